#!/usr/bin/env bash
# maxclients and the idle timeout; the checks are in limits.py. TARGET=redis runs them
# against redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 90 python3 "$(dirname "$0")/limits.py"
