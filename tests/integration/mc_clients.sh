#!/usr/bin/env bash
# Real memcached clients against logstord (issue 13); checks in mc_clients.py, run with the
# system's python3 (pymemcache from Debian's python3-pymemcache). libmemcached's tools
# (memccapable, memcslap) come from libmemcached-tools; memtier_benchmark is built once from
# ../shared/tools (build-memtier.sh) when that script is there (its path in MEMTIER).
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.bash"
it_find_memtier || exit 1
PYTHONDONTWRITEBYTECODE=1 exec timeout 170 /usr/bin/python3 "$here/mc_clients.py"
