#!/usr/bin/env bash
# maxclients against the open-file limit, and accept(2) failing for want of descriptors;
# the checks are in fd_limit.py (logstord only).
PYTHONDONTWRITEBYTECODE=1 exec timeout 90 python3 "$(dirname "$0")/fd_limit.py"
