#!/usr/bin/env bash
# logstord accepts connections while its engine recovers and answers -LOADING (Redis) or
# SERVER_ERROR loading (memcached) until it is open; the checks are in loading.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 240 python3 "$(dirname "$0")/loading.py"
