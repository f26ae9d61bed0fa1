#!/usr/bin/env bash
# A client that shuts down its sending side still gets every reply (Redis and memcached
# ports); the checks are in half_close.py. TARGET=redis runs them against redis-server
# and memcached.
PYTHONDONTWRITEBYTECODE=1 exec timeout 90 python3 "$(dirname "$0")/half_close.py"
