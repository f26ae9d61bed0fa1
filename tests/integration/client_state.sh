#!/usr/bin/env bash
# MONITOR, CLIENT REPLY, RESET and CLIENT PAUSE/UNPAUSE; the checks are in client_state.py.
# TARGET=redis runs them against redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 110 python3 "$(dirname "$0")/client_state.py"
