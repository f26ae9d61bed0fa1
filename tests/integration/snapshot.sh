#!/usr/bin/env bash
# SNAPSHOT CREATE/LIST/DROP and logstor-backup (issue 14); the checks are in snapshot.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 180 python3 "$(dirname "$0")/snapshot.py"
