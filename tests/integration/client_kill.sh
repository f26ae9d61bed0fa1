#!/usr/bin/env bash
# CLIENT KILL's filters and replies (Redis 7.0); the checks are in client_kill.py. TARGET=redis
# runs them against redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 90 python3 "$(dirname "$0")/client_kill.py"
