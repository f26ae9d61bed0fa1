#!/usr/bin/env bash
# Large collections written inside MULTI/EXEC and scripts: only the pages at stake, replies
# as redis-server's, whole after a kill -9. The checks are in large_units.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 230 python3 "$(dirname "$0")/large_units.py"
