#!/usr/bin/env bash
# MULTI/EXEC/DISCARD/WATCH (issue 12): replies, WATCH, atomicity for other clients,
# durability once answered. The checks are in transactions.py; TARGET=redis runs them
# against redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 170 python3 "$(dirname "$0")/transactions.py"
