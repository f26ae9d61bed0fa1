#!/usr/bin/env bash
# On a full disk, the space of keys that expired is given back to the writes that follow;
# the checks are in expiry_space.py. TARGET=redis runs them against redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 90 python3 "$(dirname "$0")/expiry_space.py"
