#!/usr/bin/env bash
# Sets (issue 15). The checks are in sets.py; TARGET=redis runs them against redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 120 python3 "$(dirname "$0")/sets.py"
