#!/usr/bin/env bash
# Memory bounds of connections: pipelined floods that do not read (Redis and memcached
# ports, noreply included), the output-buffer limit over all pending replies, and
# maxmemory_clients; the checks are in conn_memory.py (logstord only: it reads the
# server's RSS and uses logstord's configuration keys).
PYTHONDONTWRITEBYTECODE=1 exec timeout 150 python3 "$(dirname "$0")/conn_memory.py"
