#!/usr/bin/env bash
# INFO keyspace/persistence counts, CONFIG GET/SET as Redis 7.0 answers them, SLOWLOG and
# LATENCY; the checks are in server_ops.py. TARGET=redis runs them against redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 120 python3 "$(dirname "$0")/server_ops.py"
