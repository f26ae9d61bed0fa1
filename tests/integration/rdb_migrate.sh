#!/usr/bin/env bash
# redis-cli --rdb from logstord into redis-server 7.0, and logstor-load from redis-server's
# SAVE into logstord (issue 14); the checks are in rdb_migrate.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 300 /usr/bin/python3 "$(dirname "$0")/rdb_migrate.py"
