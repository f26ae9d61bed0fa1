#!/usr/bin/env bash
# ROLE, ACL, COMMAND, CONFIG, CLIENT and INFO introspection as Redis 7.0 answers it; the
# checks are in introspection.py. TARGET=redis runs them against redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 90 python3 "$(dirname "$0")/introspection.py"
