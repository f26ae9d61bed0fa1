#!/usr/bin/env bash
# bench/devget.sh BUILD - GETs from the device and hot GETs (record cache) under the same
# load, and fio randread at the same queue depth on the same filesystem in the same run
# (issue 16: "the device-bound one against fio randread at the same queue depth, >= 0.9x").
#
#   bash bench/devget.sh build          (or: make bench-devget; about 4 minutes)
#
# One logstord (--durability sync, a small --cache_size, data dir under the bench's work dir
# in /tmp, which takes O_DIRECT) is loaded with N keys key:0 .. key:N-1 of VSIZE-byte values
# (redis-cli --pipe), about 8x the cache or more. Then, for each queue depth QD:
#   fio 4k     fio --rw=randread --bs=4k --direct=1 --ioengine=io_uring --iodepth=QD
#              --numjobs=1 on a file as big as the loaded data, in the same work dir
#   device     memtier_benchmark GETs only (--ratio=0:1), uniform random keys over all N
#              (--key-pattern=R:R --distinct-client-seed), 1 thread, C = min(QD, CLIENTS)
#              connections each keeping QD/C GETs in flight (--pipeline): QD GETs in
#              flight, as fio keeps QD reads in flight. (One request per connection over 32
#              connections holds memtier here to about 10 k GETs/s, against redis-server as
#              well; 4 connections x 8 do not.)
#   fio 8k     the same fio with --bs=8k: a 4 KiB value's record (40-byte header, key,
#              value, padded to 8) is over 4 KiB, so a GET reads two blocks (three when the
#              record straddles two block boundaries)
#   hot        the same memtier load over the first HOT keys (which fit the cache), after a
#              warm-up run over them that is not counted
# Each run lasts SECONDS. Figures: ops/s, p50/p99 latency, INFO's device_reads per GET (~1
# for device GETs, ~0 for hot ones: the proof of where a GET was served from), the bytes the
# server read from the device per GET (/proc/PID/io read_bytes: logstord's INFO has a count
# of device reads but none of bytes read), server CPU per GET (utime+stime, every thread),
# and the ratio of device GETs/s to fio's IOPS at the same QD; last, the device GETs/s
# against a bound that puts a hot GET's round trip and a fio 8 KiB read in series (with QD
# requests in flight, each GET spends part of its time in the network and the event loop,
# so fewer than QD reads are at the device: a rate near that bound says the device path
# adds little of its own).
# memtier rather than redis-benchmark: redis-benchmark -r draws keys as key:__rand_int__
# zero-padded to 12 digits, so its GETs would miss keys loaded as key:<i>; memtier's
# --key-prefix=key: --key-minimum/--key-maximum name exactly the loaded keys. Its hit rate
# is checked (a miss would be served from the index alone, with no read).
#
# Environment: DEVGET_N=200000, DEVGET_VALUE_SIZE=4096, DEVGET_CACHE=8mb (--cache_size),
# DEVGET_DISK_SIZE (--disk_size; default 3x the data, at least 2 GiB), DEVGET_QDS="32 8 1",
# DEVGET_CLIENTS=4 (memtier connections at most; each QD a multiple of min(QD, CLIENTS)),
# DEVGET_SECONDS=10 (each run), DEVGET_HOT=1000 (hot keys), DEVGET_PERF=0 (seconds of
# `perf record -g` of the server during an extra device run at the first QD, not counted;
# prints the top symbols), LOGSTORD=BUILD/logstord, BENCH_LOGSTORD_ARGS (more logstord
# arguments), MEMTIER. A tool that fails or a wrong figure (hit rate, key count) is
# reported; the run goes on where it can and exits with status 1.
set -u
BUILD=${1:-build}
N=${DEVGET_N:-200000}
VSIZE=${DEVGET_VALUE_SIZE:-4096}
CACHE=${DEVGET_CACHE:-8mb}
QDS=${DEVGET_QDS:-32 8 1}
SECS=${DEVGET_SECONDS:-10}
HOT=${DEVGET_HOT:-1000}
CLIENTS=${DEVGET_CLIENTS:-4}
PERF_SECS=${DEVGET_PERF:-0}
LOGSTORD=${LOGSTORD:-$BUILD/logstord}
# shellcheck disable=SC2034 # loads.sh's cpu_per_op reads it
HZ=$(getconf CLK_TCK)
RUN_TIMEOUT=$((SECS + 60)) # memtier and fio runs (tool_failed names it)

# record size as engine/FORMAT.md lays it out: 40-byte header + key + value, padded to 8
KEYLEN=$((4 + ${#N})) # "key:" and at most as many digits as N
REC=$(((40 + KEYLEN + VSIZE + 7) / 8 * 8))
DATA_MB=$(((N * REC + (1 << 20) - 1) >> 20))
DISK_MB=$((3 * DATA_MB > 2048 ? 3 * DATA_MB : 2048))
DISK_SIZE=${DEVGET_DISK_SIZE:-${DISK_MB}mb}
BENCH_LOGSTORD_ARGS="--cache_size $CACHE --disk_size $DISK_SIZE ${BENCH_LOGSTORD_ARGS:-}"

# shellcheck source=bench/lib.bash
source "$(dirname "$0")/lib.bash"
# shellcheck source=bench/loads.sh
source "$(dirname "$0")/loads.sh" # run_tool, cpu_mark/cpu_stop/cpu_per_op, mt_summary
FAILURES=()
bench_fail() { # MESSAGE...: reports a failure now and again at the end
    echo "devget: $*"
    FAILURES+=("$*")
}
finish() {
    echo "devget: ${SECONDS}s in all; command: DEVGET_N=$N DEVGET_VALUE_SIZE=$VSIZE" \
        "DEVGET_CACHE=$CACHE DEVGET_QDS=\"$QDS\" DEVGET_SECONDS=$SECS DEVGET_HOT=$HOT" \
        "DEVGET_CLIENTS=$CLIENTS" \
        "bash bench/devget.sh $BUILD"
    if [ ${#FAILURES[@]} -gt 0 ]; then
        echo "devget: ${#FAILURES[@]} failure(s):"
        printf '  %s\n' "${FAILURES[@]}"
        exit 1
    fi
    exit 0
}

info_field() { # NAME: the field of the running server's INFO
    timeout 5 redis-cli -p "$PORT" info logstor | tr -d '\r' |
        awk -F: -v k="$1" '$1 == k { print $2 }'
}
io_read_bytes() { # bytes the server made the block layer read (all its threads, io_uring's too)
    awk '$1 == "read_bytes:" { print $2 }' "/proc/$SRV_PID/io" 2>/dev/null
}

# ---- fio ----------------------------------------------------------------------------------
FIO_FILE= # laid out once, as big as the loaded data
fio_layout() {
    FIO_FILE="$WORK/fio.dat"
    # written, not fallocated: reads of unwritten extents would not reach the device
    if ! timeout -k 5 300 fio --name=layout --filename="$FIO_FILE" --size="${DATA_MB}m" \
        --rw=write --bs=1m --direct=1 --ioengine=io_uring --iodepth=4 \
        --output="$WORK/fio-layout.out" >/dev/null 2>"$WORK/fio.err"; then
        bench_fail "fio could not lay out $FIO_FILE: $(tail -n 2 "$WORK/fio.err" | tr '\n' ' ')"
        FIO_FILE=
    fi
}

declare -A OPS # "QD,what" -> ops/s of the runs, for the ratios
fio_one() { # QD BS
    local qd=$1 bs=$2 json="$WORK/fio.json" line
    [ -n "$FIO_FILE" ] || return
    rm -f "$json"
    if ! timeout -k 5 "$RUN_TIMEOUT" fio --name=randread --filename="$FIO_FILE" \
        --size="${DATA_MB}m" --rw=randread --bs="$bs" --direct=1 --ioengine=io_uring \
        --iodepth="$qd" --numjobs=1 --time_based --runtime="$SECS" --norandommap \
        --randrepeat=0 --lat_percentiles=1 --output-format=json --output="$json" \
        >/dev/null 2>"$WORK/fio.err"; then
        bench_fail "fio randread bs=$bs QD$qd failed: $(tail -n 2 "$WORK/fio.err" | tr '\n' ' ')"
        return
    fi
    line=$(python3 - "$json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
r = j["read"]
pct = r["lat_ns"].get("percentile", {})  # submission to completion, as memtier times a GET
ios = r["total_ios"] or 1
cpu_us = (j["usr_cpu"] + j["sys_cpu"]) / 100.0 * j["job_runtime"] * 1000.0 / ios
print("%.0f %.3f %.3f %.2f %.0f" % (r["iops"], pct.get("50.000000", 0) / 1e6,
      pct.get("99.000000", 0) / 1e6, cpu_us, r["bw_bytes"] / 1048576))
EOF
    ) || { bench_fail "cannot read fio's JSON (bs=$bs QD$qd)"; return; }
    local iops p50 p99 cpu mbs
    read -r iops p50 p99 cpu mbs <<<"$line"
    OPS[$qd,fio$bs]=$iops
    printf 'devget: QD%-3s %-22s %8.0f ops/s  p50 %6.3f ms  p99 %6.3f ms  %s MiB/s' "$qd" \
        "fio randread bs=$bs" "$iops" "$p50" "$p99" "$mbs"
    printf '  fio CPU %.2f us/op\n' "$cpu"
}

# ---- memtier GETs ------------------------------------------------------------------------
# get_run QD KMAX LABEL [quiet]: GETs of key:1 .. key:KMAX (memtier wants --key-minimum >= 1)
# unless quiet (a warm-up); checks that every GET found its key.
get_run() {
    local qd=$1 kmax=$2 label=$3 quiet=${4:-} json="$WORK/memtier.json" st
    local r0 r1 b0 b1 g0 g1 conns=$((qd < CLIENTS ? qd : CLIENTS))
    rm -f "$json"
    r0=$(info_field device_reads); g0=$(info_field gets); b0=$(io_read_bytes)
    cpu_mark
    run_tool "$RUN_TIMEOUT" "$WORK/mt.out" "$WORK/mt.err" "$MEMTIER" -s 127.0.0.1 -p "$PORT" \
        --protocol=redis --threads=1 --clients="$conns" --pipeline=$((qd / conns)) --ratio=0:1 \
        --key-pattern=R:R --key-prefix=key: --key-minimum=1 --key-maximum="$kmax" \
        --distinct-client-seed --test-time="$SECS" --print-percentiles=50,99,99.9 \
        --hide-histogram --json-out-file="$json"
    st=$?
    cpu_stop
    r1=$(info_field device_reads); g1=$(info_field gets); b1=$(io_read_bytes)
    if [ $st -ne 0 ] || [ ! -s "$json" ]; then
        tool_failed logstord-sync "memtier $label QD$qd" $st "$WORK/mt.err" || finish
        return
    fi
    local kind count ops p50 p99 hit
    # shellcheck disable=SC2034 # p99.9 and the shares of memtier's summary are not used
    while read -r kind count ops p50 p99 p999 ge1 ge8 ge64 hit; do
        [ "$kind" = GET ] && break
    done < <(mt_summary "$json" 2>"$WORK/mtsum.err")
    if [ "${kind:-}" != GET ] || [ "${count:-0}" -le 0 ]; then
        bench_fail "memtier $label QD$qd: no GETs in its JSON $(tail -n 1 "$WORK/mtsum.err")"
        return
    fi
    if [ "$(echo "$hit < 99.9" | bc -l)" = 1 ]; then
        bench_fail "memtier $label QD$qd: GET hit rate $hit% (the keys are not those loaded?)"
    fi
    [ -n "$quiet" ] && return
    OPS[$qd,$label]=$ops
    printf 'devget: QD%-3s %-22s %8.0f ops/s  p50 %6.3f ms  p99 %6.3f ms  device_reads/GET %.3f' \
        "$qd" "$label GETs" "$ops" "$p50" "$p99" "$(echo "($r1 - $r0) / $count" | bc -l)"
    printf '  read %.1f KiB/GET  server CPU %s us/op  (%sx%s, hits %s%%, INFO gets %s)\n' \
        "$(echo "($b1 - $b0) / 1024 / $count" | bc -l)" "$(cpu_per_op "$count")" "$conns" \
        "$((qd / conns))" "$hit" "$((g1 - g0))"
}

ratio() { # QD WHAT REF
    local a=${OPS[$1,$2]:-} b=${OPS[$1,$3]:-}
    if [ -z "$a" ] || [ -z "$b" ]; then
        printf 'devget: QD%-3s ratio %s/%s n/a\n' "$1" "$2" "$3"
        return
    fi
    local r
    r=$(echo "$a / $b" | bc -l)
    printf 'devget: QD%-3s ratio %-6s GETs/s / %-20s %.2fx%s\n' "$1" "$2" \
        "$(case $3 in fio*) echo "fio ${3#fio} IOPS" ;; *) echo "$3 GETs/s" ;; esac)" "$r" \
        "$([ "$3" = fio4k ] && { [ "$(echo "$r >= 0.9" | bc -l)" = 1 ] && echo "  meets 0.9x" ||
            echo "  below 0.9x"; })"
}

# ---- main ---------------------------------------------------------------------------------
for qd in $QDS; do
    case $qd in
    '' | *[!0-9]* | 0) bench_fail "queue depth '$qd' is not a positive number"; finish ;;
    esac
    c=$((qd < CLIENTS ? qd : CLIENTS))
    if [ $((qd % c)) -ne 0 ]; then
        bench_fail "queue depth $qd: not a multiple of $c connections (DEVGET_CLIENTS)"
        finish
    fi
done
command -v fio >/dev/null || { bench_fail "no fio (scripts/deps.sh installs it)"; finish; }
find_memtier || { bench_fail "memtier_benchmark missing"; finish; }
echo "devget: $N keys of $VSIZE B (records of $REC B, ${DATA_MB} MiB), cache $CACHE," \
    "disk_size $DISK_SIZE, QD $QDS, ${SECS}s runs; $(nproc) CPUs, load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
echo "devget: $("$LOGSTORD" --version 2>/dev/null || echo "no $LOGSTORD"), $(fio --version)," \
    "$("$MEMTIER" --version | head -n 1); work dir $WORK ($(stat -f -c %T "$WORK"))"
start_target logstord-sync || { bench_fail "logstord did not start"; finish; }
t0=$SECONDS
timeout -k 5 300 redis-cli -p "$PORT" --pipe < <(set_input "$N" "$VSIZE" /dev/stdout) \
    >"$WORK/pipe.out" 2>&1
st=$?
keys=$(timeout 5 redis-cli -p "$PORT" dbsize 2>&1)
echo "devget: loaded in $((SECONDS - t0)) s, dbsize $keys" \
    "($(tail -n 1 "$WORK/pipe.out" | tr -d '\r'))"
if [ $st -ne 0 ] || [ "$keys" != "$N" ]; then
    bench_fail "the load failed (redis-cli --pipe status $st, dbsize $keys)"
    finish
fi
fio_layout
for qd in $QDS; do
    fio_one "$qd" 4k
    get_run "$qd" $((N - 1)) device
    fio_one "$qd" 8k
    get_run "$qd" "$HOT" hot quiet # warm-up
    get_run "$qd" "$HOT" hot
done
# bound QD: the device GETs/s if a GET took a hot GET's time plus a fio 8k read's (mean
# latencies by Little's law, QD/rate: QD / (QD/hot + QD/fio8k)), and the share of it reached
bound() {
    local dev=${OPS[$1,device]:-} hot=${OPS[$1,hot]:-} fio=${OPS[$1,fio8k]:-} bnd
    [ -n "$dev" ] && [ -n "$hot" ] && [ -n "$fio" ] || return 0
    bnd=$(echo "$hot * $fio / ($hot + $fio)" | bc -l)
    printf 'devget: QD%-3s device GETs/s / (hot GET + fio 8k read in series: %.0f/s) %.2fx\n' \
        "$1" "$bnd" "$(echo "$dev / $bnd" | bc -l)"
}
for qd in $QDS; do
    ratio "$qd" device fio4k
    ratio "$qd" device fio8k
    ratio "$qd" hot device
    bound "$qd"
done
if [ "$PERF_SECS" -gt 0 ] 2>/dev/null; then
    # shellcheck disable=SC2086 # the first QD
    set -- $QDS
    echo "devget: perf record -g of the server for ${PERF_SECS}s, device GETs at QD$1 (not counted)"
    timeout -k 5 $((PERF_SECS + 30)) "$MEMTIER" -s 127.0.0.1 -p "$PORT" --protocol=redis \
        --threads=1 --clients=$(($1 < CLIENTS ? $1 : CLIENTS)) \
        --pipeline=$(($1 / ($1 < CLIENTS ? $1 : CLIENTS))) --ratio=0:1 --key-pattern=R:R \
        --key-prefix=key: \
        --key-minimum=1 --key-maximum=$((N - 1)) --distinct-client-seed \
        --test-time=$((PERF_SECS + 2)) >/dev/null 2>&1 &
    TOOL_PID=$!
    sleep 1
    perf record -q -g -o "$WORK/perf.data" -p "$SRV_PID" -- sleep "$PERF_SECS" >/dev/null 2>&1 ||
        bench_fail "perf record failed"
    wait "$TOOL_PID"
    TOOL_PID=
    perf report -i "$WORK/perf.data" --stdio --no-children --sort symbol 2>/dev/null |
        awk '/^ +[0-9.]+%/ { print "  " $1, $2, $3 }' | head -n 25
fi
stop_target
finish
