#!/usr/bin/env bash
# The concurrency rule from clients: SET NX / SET XX / DEL / memcached add and replace
# races under a full write backlog, FLUSHDB after an in-flight INCR.
# Checks in concurrency_rule.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 240 python3 "$(dirname "$0")/concurrency_rule.py"
