#!/usr/bin/env bash
# Writes the engine refuses as busy are parked and retried, not failed: pipelined SETs past
# a 1 MiB write backlog all answer +OK, in order; INCR stays exact. Checks in busy_writes.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 180 python3 "$(dirname "$0")/busy_writes.py"
