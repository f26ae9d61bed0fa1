#!/usr/bin/env bash
# Sorted sets (issue 15). The checks are in zsets.py; TARGET=redis runs them against
# redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 120 python3 "$(dirname "$0")/zsets.py"
