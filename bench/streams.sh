#!/usr/bin/env bash
# bench/streams.sh BUILD - large streams against redis-server (issue 15): one stream of
# STREAMS_N entries (default 100,000) filled by pipelined XADDs, then consumer-group loads
# on it (bench/streams_load.py: XREADGROUP COUNT 10 + XACK; the same with XDEL of the
# delivered IDs; XINFO GROUPS). Each target is started fresh; prints ops/s, the server's
# CPU per operation and the ratio of ops/s to the peer of the same durability
# (logstord-sync / redis-always, logstord-periodic / redis-everysec).
#
#   bash bench/streams.sh build      (or make bench-streams)
set -u
BUILD=${1:-build}
LOGSTORD=${LOGSTORD:-$BUILD/logstord}
source "$(dirname "$0")/lib.bash"

N=${STREAMS_N:-100000}
TARGETS=${STREAMS_TARGETS:-logstord-sync redis-always logstord-periodic redis-everysec}
HERE=$(cd "$(dirname "$0")" && pwd)
echo "streams: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); $N entries"
declare -A RATE
printf '%-18s %-9s %8s %10s %12s %8s\n' target load ops ops/s "cpu us/op" ratio
for t in $TARGETS; do
    start_target "$t" || continue
    if ! /usr/bin/python3 "$HERE/streams_load.py" "$PORT" "$SRV_PID" "$N" >"$WORK/st.out" \
        2>"$WORK/st.err"; then
        echo "streams: $t failed: $(tail -n 3 "$WORK/st.err")"
    fi
    stop_target
    while read -r load ops rate cpu; do
        peer=
        case $t in
        redis-always) peer=logstord-sync ;;
        redis-everysec) peer=logstord-periodic ;;
        esac
        RATE[$t/$load]=$rate
        ratio=
        [ -n "$peer" ] && [ -n "${RATE[$peer/$load]:-}" ] &&
            ratio=$(awk -v a="${RATE[$peer/$load]}" -v b="$rate" 'BEGIN{printf "%.2fx", a/b}')
        printf '%-18s %-9s %8s %10s %12s %8s\n' "$t" "$load" "$ops" "$rate" "$cpu" "$ratio"
    done <"$WORK/st.out"
done
