#!/usr/bin/env bash
# bench/disks.sh BUILD - server CPU per SET against disk_size: the compactor's rounds walk
# every segment descriptor (seg_rebuild_free, compute_low_water, select_victims), so their
# cost grows with the disk, not the data. For each DISKS_SIZES value, logstord periodic
# starts fresh, takes DISKS_N SETs of 1000-byte values over DISKS_KEYS keys with
# redis-benchmark -P 16 (overwrites: whole segments die and are freed), and the bench
# prints ops/s, server CPU per SET, compaction rounds and segments in use, then the ratio
# of each size's CPU per SET to the first's. A disk that costs much more per SET than a
# small one is the regression this watches (64 GiB: 7.2 us against 1.13 at 1 GiB before
# the rounds that only may find something were paced by disk size).
#
#   bash bench/disks.sh build
#
# Environment: DISKS_SIZES="1gb 16gb 64gb", DISKS_N=600000, DISKS_KEYS=1000,
# LOGSTORD=BUILD/logstord. The data files are made as needed (32 MiB each): a run writes
# about DISKS_N KiB under /tmp.
set -u
BUILD=${1:-build}
SIZES=${DISKS_SIZES:-1gb 16gb 64gb}
N=${DISKS_N:-600000}
KEYS=${DISKS_KEYS:-1000}
export BENCH_LOGSTORD_ARGS="${BENCH_LOGSTORD_ARGS:-}"
LOGSTORD=${LOGSTORD:-$BUILD/logstord}
source "$(dirname "$0")/lib.bash"

HZ=$(getconf CLK_TCK)
first=
echo "disks: SET -P16 of 1000 B over $KEYS keys, $N per size; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for size in $SIZES; do
    LOGSTORD_EXTRA=(--disk_size "$size")
    start_target logstord-periodic || { echo "disks: logstord did not start with disk_size $size"; exit 1; }
    redis-benchmark -p "$PORT" -t set -n $((N / 2)) -r "$KEYS" -d 1000 -P 16 -q >/dev/null 2>&1
    c0=$(server_cpu_ticks)
    ops=$(redis-benchmark -p "$PORT" -t set -n "$N" -r "$KEYS" -d 1000 -P 16 -q --csv 2>/dev/null |
        tail -1 | cut -d, -f2 | tr -d '"')
    c1=$(server_cpu_ticks)
    info=$(redis-cli -p "$PORT" info | tr -d '\r')
    runs=$(sed -n 's/^compaction_runs://p' <<<"$info")
    used=$(sed -n 's/^segments_used://p' <<<"$info")
    total=$(sed -n 's/^segments_total://p' <<<"$info")
    stop_target
    cpu=$(echo "($c1 - $c0) * 1000000 / $HZ / $N" | bc -l)
    [ -z "$first" ] && first=$cpu
    printf 'disks: disk_size %-6s %8.0f SET/s  server CPU %5.2f us/SET (%.2fx the first)  %s rounds, %s of %s segments in use\n' \
        "$size" "${ops:-0}" "$cpu" "$(echo "$cpu / $first" | bc -l)" "$runs" "$used" "$total"
done
