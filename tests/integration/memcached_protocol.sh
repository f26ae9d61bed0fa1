#!/usr/bin/env bash
# The memcached text and meta protocols over a raw socket; the checks are in
# memcached_protocol.py (python3, standard library only). TARGET=redis runs them against
# a real memcached.
PYTHONDONTWRITEBYTECODE=1 exec timeout 150 python3 "$(dirname "$0")/memcached_protocol.py"
