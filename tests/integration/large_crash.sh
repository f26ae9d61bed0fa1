#!/usr/bin/env bash
# kill -9 while large sorted sets are written (pipelined ZADD/ZREM/ZINCRBY/pops): every set
# must read whole and agree with itself after each restart. Checks in large_crash.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 200 python3 "$(dirname "$0")/large_crash.py" \
    "${LOGSTORD:-build/logstord}"
