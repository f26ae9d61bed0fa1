#!/usr/bin/env bash
# KEYS and SCAN MATCH/TYPE/COUNT against redis-server 7.0 over keys and random patterns
# made of glob's special characters, before and after a restart; the checks are in
# scan_match.py (SCAN_MATCH_SEED replays a run).
PYTHONDONTWRITEBYTECODE=1 exec timeout 170 python3 "$(dirname "$0")/scan_match.py"
