#!/usr/bin/env bash
# EVAL/EVALSHA/SCRIPT (issue 12): replies compared with redis-server, yielding on device
# reads, atomicity; the checks are in scripting.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 140 python3 "$(dirname "$0")/scripting.py"
