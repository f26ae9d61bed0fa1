#!/usr/bin/env bash
# A client is answered while others pipeline GETs (redis-benchmark -P 16); the checks are
# in fairness.py. TARGET=redis runs them against redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 90 python3 "$(dirname "$0")/fairness.py"
