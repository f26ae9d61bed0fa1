#!/usr/bin/env bash
# Real memcached clients against logstord (issue 13); checks in mc_clients.py, run with the
# system's python3 (pymemcache from Debian's python3-pymemcache). libmemcached's tools
# (memccapable, memcslap) come from libmemcached-tools; memtier_benchmark is built once from
# ../shared/tools (build-memtier.sh) when that script is there (its path in MEMTIER).
here=$(cd "$(dirname "$0")" && pwd)
tools="$here/../../../shared/tools"
if [ -z "${MEMTIER:-}" ] && [ -x "$tools/build-memtier.sh" ]; then
    MEMTIER=$(bash "$tools/build-memtier.sh" 2>/dev/null | tail -n 1)
    [ -x "$MEMTIER" ] || { echo "FAIL: build-memtier.sh did not build memtier_benchmark"; exit 1; }
    export MEMTIER
fi
PYTHONDONTWRITEBYTECODE=1 exec timeout 170 /usr/bin/python3 "$here/mc_clients.py"
