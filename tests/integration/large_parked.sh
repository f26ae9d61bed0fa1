#!/usr/bin/env bash
# A large collection written in steps (pages ahead of its root) keeps its key locked while
# a step waits in the write backlog: pipelined writes on the key are all kept. The checks
# are in large_parked.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 230 python3 "$(dirname "$0")/large_parked.py"
