#!/usr/bin/env bash
# Large sorted sets (hash buckets plus a B+tree in score order, proto/ztree.h): sets of
# 4000-30000 members (trees of 3-4 levels) and a seeded random sequence of the commands
# that read and write only the pages at stake (ZADD/ZINCRBY/ZREM of up to 8 members,
# ZSCORE ZMSCORE ZRANK ZRANGE* ZCOUNT ZLEXCOUNT, pops of up to 16) against logstord
# ($LOGSTORD, build/logstord by default) and redis-server, replies compared; single-member
# writes must write no new version; SIGTERM and SIGKILL restarts; MULTI/EXEC and EVAL (the
# whole-set path); the reaper's cleanup. ZSEED replays a run, ZSTEPS sets its length. The
# checks are in large_zsets.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 180 python3 "$(dirname "$0")/large_zsets.py"
