#!/usr/bin/env bash
# Replies through the engine's io_uring: fewer write system calls than replies, and the
# same replies (slow readers, clients closing with replies in flight); the checks are in
# uring_sends.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 240 python3 "$(dirname "$0")/uring_sends.py"
