#!/usr/bin/env bash
# One MGET's memory is bounded: reads in flight per command and connection, values held up
# to the output limit. Peak RSS figures and checks in mget_memory.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 270 python3 "$(dirname "$0")/mget_memory.py"
