#!/usr/bin/env bash
# Transactions are all-or-nothing across SIGKILLs (issue 12), in sync durability (nothing
# acknowledged lost either) and periodic; the checks are in txn_crash.py.
d=$(dirname "$0")
PYTHONDONTWRITEBYTECODE=1 timeout 220 python3 "$d/txn_crash.py" &&
    DURABILITY=periodic CYCLES=${CYCLES:-8} PYTHONDONTWRITEBYTECODE=1 timeout 220 python3 "$d/txn_crash.py"
