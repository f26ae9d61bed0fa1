#!/usr/bin/env bash
# Streams (issue 15): replies and errors against redis-server, a random sequence compared
# with it, XREAD BLOCK, types and keys, transactions, scripts, keyspace events, the size
# bound, restarts and SIGKILL. The checks are in streams.py; TARGET=redis runs them
# against redis-server alone.
PYTHONDONTWRITEBYTECODE=1 exec timeout 180 python3 "$(dirname "$0")/streams.py"
