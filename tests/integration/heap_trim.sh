#!/usr/bin/env bash
# The heap a whole-collection command frees is given back (malloc_trim). Checks in
# heap_trim.py.
PYTHONDONTWRITEBYTECODE=1 exec timeout 150 python3 "$(dirname "$0")/heap_trim.py"
