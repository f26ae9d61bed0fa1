#!/usr/bin/env bash
# kill -9 during hash, list, set and sorted-set writes, LMOVE/SMOVE included (issue 15);
# the checks are in coll_crash.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 170 python3 "$(dirname "$0")/coll_crash.py"
