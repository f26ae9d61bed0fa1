#!/usr/bin/env bash
# Which hashes and sets take the large form (hash buckets), and reads of a large hash
# racing its writes. The checks are in large_shapes.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 150 python3 "$(dirname "$0")/large_shapes.py"
