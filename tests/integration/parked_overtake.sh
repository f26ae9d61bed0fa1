#!/usr/bin/env bash
# Small parked writes overtake a large one the engine keeps refusing; a large write is not
# starved by small ones either. Checks in parked_overtake.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 150 python3 "$(dirname "$0")/parked_overtake.py"
