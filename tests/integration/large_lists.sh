#!/usr/bin/env bash
# Large lists (issue 15): a seeded random sequence of list commands against logstord and
# redis-server, replies compared, with restarts and SIGKILLs, then the reaper's cleanup.
# LARGE_SEED replays a run, LARGE_STEPS sets its length. The checks are in large_lists.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 330 python3 "$(dirname "$0")/large_lists.py"
