#!/usr/bin/env bash
# The one-node cluster view (issue 12); checks in cluster_mode.py, run with the system's
# python3 (redis-py's RedisCluster). memtier_benchmark is built once from
# ../shared/tools (build-memtier.sh, about 2 minutes) when that script is there.
here=$(cd "$(dirname "$0")" && pwd)
tools="$here/../../../shared/tools"
if [ -z "${MEMTIER:-}" ] && [ -x "$tools/build-memtier.sh" ]; then
    MEMTIER=$(bash "$tools/build-memtier.sh" 2>/dev/null | tail -n 1)
    [ -x "$MEMTIER" ] || { echo "FAIL: build-memtier.sh did not build memtier_benchmark"; exit 1; }
    export MEMTIER
fi
PYTHONDONTWRITEBYTECODE=1 exec timeout 170 /usr/bin/python3 "$here/cluster_mode.py"
