#!/usr/bin/env bash
# Checkpoints of the index (issue 14): restarts read logstor.ckpt and the log written
# after it; the checks are in checkpoint.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 180 python3 "$(dirname "$0")/checkpoint.py"
