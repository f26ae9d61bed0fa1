#!/usr/bin/env bash
# Large hashes, sets and sorted sets (past max_value_size: a root and pages): a seeded
# random sequence of their commands against logstord (max_value_size LARGE_MAXVAL, 1024 by
# default) and redis-server, replies compared, with restarts and SIGKILLs, the RDB, then
# the reaper's cleanup. LARGE_SEED replays a run, LARGE_STEPS sets its length. The checks
# are in large_colls.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 330 python3 "$(dirname "$0")/large_colls.py"
