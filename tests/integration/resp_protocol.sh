#!/usr/bin/env bash
# RESP3, inline commands, one-write pipelining and protocol limits over raw sockets.
# The checks are in resp_protocol.py (python3, standard library only). TARGET=redis runs
# them against redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 120 python3 "$(dirname "$0")/resp_protocol.py"
