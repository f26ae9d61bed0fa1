#!/usr/bin/env bash
# A queue library's real use (issue 15): Celery (Debian's python3-celery, with kombu's
# Redis transport and the Redis result backend) runs tasks through logstord. The checks
# are in celery_queue.py; TARGET=redis runs them against redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 170 /usr/bin/python3 "$(dirname "$0")/celery_queue.py"
