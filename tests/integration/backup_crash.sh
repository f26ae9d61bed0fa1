#!/usr/bin/env bash
# SIGKILL during checkpoints and logstor-backup copies (issue 14); the checks are in
# backup_crash.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 180 python3 "$(dirname "$0")/backup_crash.py"
