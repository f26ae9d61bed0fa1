#!/usr/bin/env bash
# RENAME/MOVE/COPY/SWAPDB/DUMP/RESTORE at their edges; the checks are in keys_move.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 180 python3 "$(dirname "$0")/keys_move.py"
