#!/usr/bin/env bash
# Dead records give their space back: overwrite/delete churn of 4x the disk budget must
# never answer "disk full". The checks are in disk_space.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 150 python3 "$(dirname "$0")/disk_space.py"
