#!/usr/bin/env bash
# The one-node cluster view (issue 12); checks in cluster_mode.py, run with the system's
# python3 (redis-py's RedisCluster). memtier_benchmark is built once from
# ../shared/tools (build-memtier.sh, about 2 minutes) when that script is there.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.bash"
it_find_memtier || exit 1
PYTHONDONTWRITEBYTECODE=1 exec timeout 170 /usr/bin/python3 "$here/cluster_mode.py"
