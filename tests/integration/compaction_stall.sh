#!/usr/bin/env bash
# Writes on a full log wait for compaction (parked, server/park.c) instead of failing:
# pipelined overwrites of 12x a 16 MiB disk all answer +OK. Checks in compaction_stall.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 270 python3 "$(dirname "$0")/compaction_stall.py"
