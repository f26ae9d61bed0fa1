#!/usr/bin/env bash
# bench/devget.sh on a small load (3000 keys of 4 KiB, a 1 MiB record cache, QD 2, 1 s
# runs): it prints the fio, device-GET, hot-GET and ratio lines, its device GETs went to the
# device (device_reads per GET near 1, KiB read per GET at least one block) and its hot GETs
# did not (0 reads), and it removes its work dir and stops its server. A load tool that
# fails (MEMTIER=/bin/false) and a queue depth it cannot split make it exit 1.
set -u
source "$(dirname "$0")/lib.bash"
it_begin bench_devget 170
it_find_memtier || exit 1
if [ -z "${MEMTIER:-}" ] && ! command -v memtier_benchmark >/dev/null; then
    # a checkout without ../shared/tools beside it (a clean clone elsewhere), as the other
    # memtier checks (cluster_mode, mc_clients) skip
    echo "SKIP bench_devget: memtier_benchmark not found (../shared/tools/build-memtier.sh)"
    exit 0
fi
BENCH="$(cd "$(dirname "$0")/../.." && pwd)/bench/devget.sh"
BUILD=${LOGSTOR_BUILD:-build}
export LOGSTORD=${LOGSTORD:-$BUILD/logstord}
command -v fio >/dev/null || { echo "FAIL: no fio (scripts/deps.sh installs it)"; exit 1; }

small() { # runs the bench on the small load with more environment ($@), output in $DATA_DIR/out
    env DEVGET_N=3000 DEVGET_CACHE=1mb DEVGET_QDS=2 DEVGET_SECONDS=1 DEVGET_HOT=50 \
        DEVGET_CLIENTS=2 "$@" bash "$BENCH" "$BUILD" >"$DATA_DIR/out" 2>&1
}
field() { # LINE-PATTERN WORD: the number after WORD on the first line matching the pattern
    grep -m1 -E "$1" "$DATA_DIR/out" |
        awk -v w="$2" '{ for (i = 1; i < NF; i++) if ($i == w) { print $(i + 1); exit } }'
}
work_dir() { grep -o 'work dir /tmp/logstor-bench-[A-Za-z0-9]*' "$DATA_DIR/out" | cut -d' ' -f3; }
left_behind() { # WORKDIR: its dir or a process naming it remains
    [ -e "$1" ] || pgrep -f -- "$1" >/dev/null
}

section "a small run"
small
expect_eq "devget.sh exits 0" "$?" "0"
for l in "QD2 +fio randread bs=4k" "QD2 +fio randread bs=8k" "QD2 +device GETs" "QD2 +hot GETs" \
    "QD2 +ratio device GETs/s / fio 4k IOPS" "QD2 +ratio device GETs/s / fio 8k IOPS" \
    "QD2 +ratio hot +GETs/s / device GETs/s"; do
    expect_true "a line '$l'" grep -qE "^devget: $l" "$DATA_DIR/out"
done
d=$(field "device GETs" "device_reads/GET")
expect_true "device GETs read the device ($d reads per GET, want > 0.7)" \
    awk -v x="${d:-0}" 'BEGIN { exit !(x > 0.7) }'
k=$(field "device GETs" read)
expect_true "device GETs read at least 4 KiB each from the device ($k KiB)" \
    awk -v x="${k:-0}" 'BEGIN { exit !(x >= 4) }'
h=$(field "hot GETs" "device_reads/GET")
expect_eq "hot GETs read nothing from the device" "$h" "0.000"
expect_true "hits 100% on the device GETs" grep -qE "device GETs .*hits 100.0%" "$DATA_DIR/out"
w=$(work_dir)
expect_true "the work dir is named ($w)" test -n "$w"
expect_true "nothing of the run is left (dir, server)" eval "! left_behind '$w'"
[ "$IT_FAILS" -eq 0 ] || cat "$DATA_DIR/out"

section "a load tool that fails"
small MEMTIER=/bin/false
expect_eq "devget.sh exits 1 when memtier fails" "$?" "1"
expect_true "it says memtier failed" grep -q "memtier device QD2 .* failed" "$DATA_DIR/out"
w=$(work_dir)
expect_true "nothing of the run is left (dir, server)" eval "! left_behind '$w'"

section "a queue depth it cannot split"
small DEVGET_QDS=3
expect_eq "devget.sh exits 1 on QD 3 over 2 connections" "$?" "1"
expect_true "it says why" grep -q "queue depth 3: not a multiple of 2 connections" "$DATA_DIR/out"
it_finish
