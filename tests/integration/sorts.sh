#!/usr/bin/env bash
# SORT and SORT_RO (issue 15); the checks are in sorts.py. TARGET=redis runs them against
# redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 150 python3 "$(dirname "$0")/sorts.py"
