#!/usr/bin/env bash
# Lists and their blocking forms (issue 15). The checks are in lists.py; TARGET=redis runs
# the protocol sections against redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 170 python3 "$(dirname "$0")/lists.py"
