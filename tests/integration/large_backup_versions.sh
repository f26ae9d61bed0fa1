#!/usr/bin/env bash
# A logstor-backup copy must never hand out a version its copied large lists use (issue 15):
# lists created in the copy leave the copied ones intact. The checks are in
# large_backup_versions.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 200 python3 "$(dirname "$0")/large_backup_versions.py"
