#!/usr/bin/env bash
# Pub/Sub in RESP2 and RESP3, patterns, shard channels, PUBSUB introspection, keyspace
# notifications (expired included) and a slow subscriber closed at the output limit; the
# checks are in pubsub.py. TARGET=redis runs them against redis-server.
PYTHONDONTWRITEBYTECODE=1 exec timeout 110 python3 "$(dirname "$0")/pubsub.py"
