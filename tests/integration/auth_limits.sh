#!/usr/bin/env bash
# What a client that has not authenticated may send, and binary passwords; the checks are in
# auth_limits.py. TARGET=redis runs them against redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 90 python3 "$(dirname "$0")/auth_limits.py"
