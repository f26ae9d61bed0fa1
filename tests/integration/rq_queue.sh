#!/usr/bin/env bash
# A queue library's real use (issue 15): Python rq (Debian's python3-rq: lists, hashes,
# sorted sets, and streams for job results) runs jobs through logstord. The checks are in
# rq_queue.py; TARGET=redis runs them against redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 170 /usr/bin/python3 "$(dirname "$0")/rq_queue.py"
