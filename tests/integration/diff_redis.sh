#!/usr/bin/env bash
# Differential test: seeded random commands from several connections against logstord and
# redis-server, replies compared, in both durability modes and under backpressure; races
# checked against the interleavings Redis allows. Runs every scenario not listed as known
# failing; DIFF_SECONDS (default 60) is their time budget, DIFF_SEED replays a run. The
# design and the scenarios are described in diff_redis.py (--list prints them).
limit=$(( ${DIFF_SECONDS:-60} * 2 + 240 ))
PYTHONDONTWRITEBYTECODE=1 exec timeout -k 10 "$limit" python3 "$(dirname "$0")/diff_redis.py"
