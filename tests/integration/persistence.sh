#!/usr/bin/env bash
# Data survives SIGTERM and kill -9 in sync mode; the checks are in persistence.py.
# TARGET=redis validates the test against redis-server with appendfsync always.
PYTHONDONTWRITEBYTECODE=1 exec timeout 180 python3 "$(dirname "$0")/persistence.py"
