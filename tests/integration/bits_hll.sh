#!/usr/bin/env bash
# The edges of the bitmap, HyperLogLog and LCS commands: offsets at max_value_size, HLL
# values moved between logstord and redis-server, invalid HLLs, concurrent
# read-modify-writes; the checks are in bits_hll.py. TARGET=redis runs them against
# redis-server (the logstord-only limits are skipped).
PYTHONDONTWRITEBYTECODE=1 exec timeout 180 python3 "$(dirname "$0")/bits_hll.py"
