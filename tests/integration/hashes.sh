#!/usr/bin/env bash
# Hashes (issue 15): replies and errors, WRONGTYPE, TYPE/OBJECT/SCAN TYPE, transactions,
# scripts, keyspace events, moves, DUMP/RESTORE, restarts and SIGKILL. The checks are in
# hashes.py; TARGET=redis runs the protocol sections against redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 170 python3 "$(dirname "$0")/hashes.py"
