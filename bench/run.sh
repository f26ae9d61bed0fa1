#!/usr/bin/env bash
# bench/run.sh BUILD - the peer benchmark of issue 16: logstord against redis-server and
# memcached on their own benchmarks, in one run on this machine, with the server's CPU per
# operation beside every figure and the logstord/peer ratios the issue sets as goals.
#
#   bash bench/run.sh build              (or: make bench; about 10 minutes on this 2-core VM)
#
# Targets (bench/lib.bash), each started fresh on free 127.0.0.1 ports with its data in a
# new temp dir under /tmp (ext4 here, so logstord's O_DIRECT works) for every group of loads:
#   logstord-sync       logstord --durability sync
#   logstord-periodic   logstord --durability periodic (default flush_interval_ms)
#   redis-always        redis-server --appendonly yes --appendfsync always --save ''
#   redis-everysec      redis-server --appendonly yes --appendfsync everysec --save ''
#   memcached-t1        memcached -t 1 -U 0 -m 1024 (one worker thread: the per-core goal)
#   memcached-t2        memcached -t 2 (reported for reference)
#
# Parts (BENCH_PARTS), each run over the targets it applies to, in BENCH_TARGETS order, load
# by load: rb and mc start all their targets and run each load on one after the other (the
# others idle meanwhile); memtier and rate start a fresh target for each load:
#   rb       redis-benchmark (Debian's 7.0) -c CLIENTS -n N -r KEYSPACE -d VALUE_SIZE, one
#            invocation per test: SET GET INCR MSET, then the same with -P PIPELINE (GET
#            reads the keys SET wrote). p50/p99 from its --csv; MSET counts commands of 10
#            keys. Against logstord and redis.
#   mc       mcload (a small epoll load driver in C, built by bench/loads.sh, the
#            memcached-protocol counterpart of redis-benchmark: CLIENTS connections, each
#            sending P requests and waiting for their replies): set then get, P 1 and
#            PIPELINE. Against logstord's memcached port and memcached.
#   memtier  memtier_benchmark (built by ../shared/tools/build-memtier.sh), two loads of
#            BENCH_MEMTIER_SECONDS each, a fresh server for each: "memtier default" (its
#            defaults: 4 threads x 50 connections, SET:GET 1:10, 32 B, keys over 10 M)
#            and "memtier 1KiB 1:1" (--distinct-client-seed --key-maximum=1000000
#            --data-size=1024 --ratio=1:1), with the redis protocol against logstord and
#            redis, with memcache_text ("mc memtier ...") against logstord's memcached port
#            and memcached. p50/p99/p99.9 of all operations.
#   rate     tail latency at a fixed load below peak, as Aerospike's ACT judges a store:
#            memtier 2 threads x 25 connections, --rate-limiting=BENCH_RATE (400 per
#            connection: 20 k ops/s asked), SET:GET 1:4, 1 KiB values, keys over memtier's
#            default 10 M (so GETs mostly miss), BENCH_RATE_SECONDS. SET, GET and all:
#            ops/s reached, p50/p99/p99.9 and the share of operations at or over 1, 8 and
#            64 ms (from the HdrHistogram in memtier's JSON). Against logstord and redis.
# CPU: utime+stime of the server process (/proc/PID/stat, all its threads) read just
# before and after each load-tool invocation, over the operations that invocation ran,
# in microseconds ("us/op").
#
# Ratios, logstord/peer, each pair of the same load in the same run: sync against redis
# appendfsync always and periodic against everysec (redis protocol); sync and periodic
# against memcached -t 1 (the goal) and -t 2 (reference) for the memcached protocol.
# Goals (issue 16): ops/s >= 1.0x, server CPU/op <= 1.0x, latency <= 1.0x; each ratio is
# marked "meets" or "below 1.0x"/"above 1.0x", and the last lines count them.
#
# Rounds: the whole run (every part over every target) is repeated BENCH_ROUNDS times, the
# target order reversed in every other round, after a sync(1) that lets the page cache's
# dirty data out first. Each figure reported is the median of its rounds, and "spread" is
# (max - min) / median of ops/s. On a shared 2-core VM one run of a load varies by 15-50%
# from the next, and whatever ran just before the bench (a build, CI's tests) slows the
# first target only: a single round's ratio can say 0.7x where the next says 1.3x.
#
# Environment:
#   BENCH_PARTS="rb mc memtier rate", BENCH_ROUNDS=3
#   BENCH_TARGETS="logstord-sync redis-always memcached-t1 logstord-periodic redis-everysec
#                  memcached-t2" (also: redis, no persistence; memcached, 4 threads). The
#                  default order runs each logstord mode next to its peers, and the loads
#                  are interleaved (above), so that the machine's drift over a round lands
#                  on both sides of a ratio alike.
#   BENCH_N=100000 (requests per rb/mc invocation), BENCH_CLIENTS=50, BENCH_PIPELINE=16,
#   BENCH_VALUE_SIZE=100, BENCH_KEYSPACE=10000 (rb and mc)
#   BENCH_MEMTIER_SECONDS=10, BENCH_RATE_SECONDS=20, BENCH_RATE=400 (per connection),
#   BENCH_RATE_ARGS (more memtier arguments for the rate load, e.g. --key-maximum=100000
#   for GETs that hit)
#   BENCH_RUN_TIMEOUT=300 (seconds per rb/mc invocation; memtier: its seconds + 60)
#   LOGSTORD=BUILD/logstord, BENCH_LOGSTORD_ARGS (more logstord arguments),
#   MEMTIER (a memtier_benchmark binary; else build-memtier.sh's, else one on PATH)
# A target that does not start, a tool that fails or a target that dies is reported and
# its rows left out (ratios then say n/a); the run goes on, lists the failures at the end
# and exits with status 1.
set -u
BUILD=${1:-build}
N=${BENCH_N:-100000}
CLIENTS=${BENCH_CLIENTS:-50}
PIPE=${BENCH_PIPELINE:-16}
VSIZE=${BENCH_VALUE_SIZE:-100}
KEYSPACE=${BENCH_KEYSPACE:-10000}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-300}
MT_SECONDS=${BENCH_MEMTIER_SECONDS:-10}
RATE_SECONDS=${BENCH_RATE_SECONDS:-20}
RATE=${BENCH_RATE:-400}
PARTS=${BENCH_PARTS:-rb mc memtier rate}
ROUNDS=${BENCH_ROUNDS:-3}
case $ROUNDS in '' | *[!0-9]* | 0) echo "bench: BENCH_ROUNDS must be 1 or more" >&2; exit 2 ;; esac
TARGETS=${BENCH_TARGETS:-logstord-sync redis-always memcached-t1 logstord-periodic \
redis-everysec memcached-t2}
LOGSTORD=${LOGSTORD:-$BUILD/logstord}
HZ=$(getconf CLK_TCK)

# shellcheck source=bench/lib.bash
source "$(dirname "$0")/lib.bash"
# shellcheck source=bench/loads.sh
source "$(dirname "$0")/loads.sh"
RESULTS="$WORK/results.tsv" # see loads.sh; each round has its own, medians() joins them
FAILURES=()
bench_fail() { # MESSAGE...: reports a failure now and again at the end
    echo "bench: $*"
    FAILURES+=("$*")
}

MT_DEFAULT=() # memtier's own defaults
MT_1K=(--distinct-client-seed --key-maximum=1000000 --data-size=1024 --ratio=1:1)
RATE_ARGS=(--threads=2 --clients=25 --rate-limiting="$RATE" --ratio=1:4 --data-size=1024)
read -r -a RATE_EXTRA <<<"${BENCH_RATE_ARGS:-}"
RATE_ARGS+=("${RATE_EXTRA[@]}")
REDIS_PAIRS="logstord-sync:redis-always logstord-periodic:redis-everysec"
MC_PAIRS="logstord-sync:memcached-t1 logstord-periodic:memcached-t1
          logstord-sync:memcached-t2 logstord-periodic:memcached-t2"

# ---- the parts --------------------------------------------------------------------------------
family() { echo "${1%%-*}"; } # TARGET -> logstord, redis or memcached

applies() { # PART TARGET: whether PART has a load for TARGET
    case $1:$(family "$2") in
    rb:memcached | rate:memcached | mc:redis) return 1 ;;
    esac
    return 0
}

started() { # PART TARGET: starts TARGET fresh and says so
    start_target "$2" || { bench_fail "$2 did not start; its $1 loads are skipped"; return 1; }
    echo "bench: [${SECONDS}s] round $ROUND $1: $2 on 127.0.0.1:$PORT (memcached port $MCPORT)"
}

# part_interleaved PART TARGETS...: rb or mc. Every target is started, then each load runs on
# one target after the other, so that the machine's drift over the part (a VM's slow minute)
# lands on every target of a load alike: a target's eight loads in a row, then the next
# target's, put minutes between the two figures of a ratio. The targets that wait stay idle.
part_interleaved() {
    local part=$1 t p test tests next
    local -a live=()
    shift
    for t in "$@"; do
        started "$part" "$t" && keep_target "$t" && live+=("$t")
    done
    tests="set get incr mset" # GET reads the keys SET wrote
    [ "$part" = mc ] && tests="set get"
    for p in 1 "$PIPE"; do
        for test in $tests; do
            echo "bench: [${SECONDS}s] round $ROUND $part ${test^^}$(suffix_of "$p"): ${live[*]}"
            next=()
            for t in "${live[@]}"; do
                use_target "$t"
                if "${part}_one" "$t" "$test" "$p"; then next+=("$t"); else drop_kept "$t"; fi
            done
            live=("${next[@]}")
        done
    done
    stop_kept
}

part_memtier() { # TARGET LOAD (default, 1k): a fresh server for each protocol the target speaks
    local t=$1 name
    local -a args
    if [ "$2" = default ]; then
        name="memtier default" args=("${MT_DEFAULT[@]}")
    else
        name="memtier 1KiB 1:1" args=("${MT_1K[@]}")
    fi
    if [ "$(family "$t")" != memcached ] && started memtier "$t"; then
        mt_one memtier "$t" "$name" redis "$PORT" "$MT_SECONDS" "${args[@]}"
        stop_target
    fi
    if [ "$(family "$t")" != redis ] && started memtier "$t"; then
        mt_one memtier "$t" "mc $name" memcache_text "$MCPORT" "$MT_SECONDS" "${args[@]}"
        stop_target
    fi
}

part_rate() { # TARGET
    started rate "$1" || return
    mt_one rate "$1" rate redis "$PORT" "$RATE_SECONDS" "${RATE_ARGS[@]}"
    if [ "$(family "$1")" = logstord ]; then # where a durable write's time went (us)
        redis-cli -p "$PORT" info logstor 2>/dev/null | tr -d '\r' |
            awk -v t="$1" '/^(device_write|commit)_latency_usec:/ { print "bench: " t " " $0 }'
    fi
    stop_target
}

# ---- the report -------------------------------------------------------------------------------
# num(x, f): a figure printed with format f, "-" where the row has none (the tables' awk)
AWK_NUM='function num(x, f) { return x == "-" || x == "" ? "-" : sprintf(f, x) }'
# table PART: the part's rows grouped by test (in run order), targets in run order.
table() {
    printf '%-18s %-20s %10s %7s %8s %8s %9s %8s  %s\n' target test ops/s spread "p50 ms" \
        "p99 ms" "p99.9 ms" "us/op" tool
    awk -F'\t' -v part="$1" "$AWK_NUM"'
        $1 == part {
            if (!($3 in rows)) order[++n] = $3
            rows[$3] = rows[$3] sprintf("%-18s %-20s %10s %7s %8s %8s %9s %8s  %s\n", $2, $3,
                num($4, "%.0f"), num($14, "%.0f%%"), num($5, "%.2f"), num($6, "%.2f"),
                num($7, "%.2f"), num($8, "%.2f"), $9)
        }
        END { for (i = 1; i <= n; i++) printf "%s", rows[order[i]] }' "$RESULTS"
}

rate_table() {
    printf '%-18s %-4s %8s %7s %7s %9s %7s %7s %7s %6s %7s\n' target op ops/s "p50 ms" \
        "p99 ms" "p99.9 ms" ">=1ms%" ">=8ms%" ">=64ms%" "hit%" "us/op"
    awk -F'\t' "$AWK_NUM"'
        $1 == "rate" {
        printf "%-18s %-4s %8.0f %7.2f %7.2f %9.2f %7s %7s %7s %6s %7s\n", $2,
            substr($3, 6), $4, $5, $6, $7, num($10, "%.3f"), num($11, "%.3f"),
            num($12, "%.3f"), num($13, "%.1f"), num($8, "%.2f") }' "$RESULTS"
}

row_of() { # PART TARGET TEST -> the result row, or nothing
    awk -F'\t' -v p="$1" -v t="$2" -v s="$3" '$1 == p && $2 == t && $3 == s { print; exit }' \
        "$RESULTS"
}

# ratio_line PART TEST A B GOAL: logstord target A against peer B for TEST: ops/s, CPU/op
# and (memtier, rate) latency, each marked against the goal unless GOAL is 0 (reference).
ratio_line() {
    local part=$1 test=$2 a=$3 b=$4 goal=$5 ra rb label
    label="${a#logstord-}/$b"
    ra=$(row_of "$part" "$a" "$test")
    rb=$(row_of "$part" "$b" "$test")
    if [ -z "$ra" ] || [ -z "$rb" ]; then
        printf '  %-20s %-24s n/a (no row for %s)\n' "$test" "$label" \
            "$([ -z "$ra" ] && echo "$a" || echo "$b")"
        return
    fi
    printf '%s\n%s\n' "$ra" "$rb" | awk -F'\t' -v test="$test" -v label="$label" \
        -v goal="$goal" -v part="$part" '
        NR == 1 { split($0, A, "\t") }
        NR == 2 { split($0, B, "\t") }
        function ok(x) { return x != "-" && x != "" }
        # logstord/peer for column i (with "A/B unit" before it when unit is set); up: a
        # higher figure is better, 0 lower, -1 no goal. Nothing when neither row has it.
        function ratio(name, i, up, unit,   r, v, ab) {
            if (!ok(A[i]) && !ok(B[i])) return ""
            if (!ok(A[i]) || !ok(B[i]) || B[i] + 0 == 0) return sprintf("%s n/a  ", name)
            r = A[i] / B[i]
            v = !goal || up < 0 ? "" : (up ? r >= 1 : r <= 1) ? " meets" : \
                up ? " below 1.0x" : " above 1.0x"
            ab = unit == "" ? "" : sprintf(" %s/%s %s", A[i], B[i], unit)
            return sprintf("%s%s %.2fx%s  ", name, ab, r, v)
        }
        END {
            # at a fixed rate, ops/s says whether the load was held; latency is the goal
            line = sprintf("  %-20s %-24s %s%s", test, label,
                ratio("ops/s", 4, part == "rate" ? -1 : 1, ""), ratio("CPU/op", 8, 0, "us"))
            if (part == "memtier" || part == "rate")
                line = line ratio("p50", 5, 0, "") ratio("p99", 6, 0, "") ratio("p99.9", 7, 0, "")
            if (!goal) line = line "(reference)"
            sub(/ +$/, "", line)
            print line
        }'
}

ratios() { # PART: every logstord/peer pair of every test the part ran
    local test pair pairs
    awk -F'\t' -v p="$1" '$1 == p && !seen[$3]++ { print $3 }' "$RESULTS" | while read -r test; do
        case $test in mc\ *) pairs=$MC_PAIRS ;; *) pairs=$REDIS_PAIRS ;; esac
        for pair in $pairs; do
            case " $TARGETS " in *" ${pair%%:*} "*) ;; *) continue ;; esac
            case " $TARGETS " in *" ${pair#*:} "*) ;; *) continue ;; esac
            ratio_line "$1" "$test" "${pair%%:*}" "${pair#*:}" \
                "$([ "${pair#*:}" = memcached-t2 ] && echo 0 || echo 1)"
        done
    done
}

title() { # PART: what the part ran
    case $1 in
    rb) echo "== redis-benchmark -c $CLIENTS -n $N -r $KEYSPACE -d $VSIZE, one test per invocation" ;;
    mc) echo "== memcached protocol: mcload, $CLIENTS connections, $N requests, $KEYSPACE keys," \
        "$VSIZE B" ;;
    memtier) echo "== memtier_benchmark, ${MT_SECONDS}s each: default = 4 threads x 50 conns," \
        "1:10, 32 B; 1KiB 1:1 = ${MT_1K[*]}" ;;
    rate) echo "== fixed rate: memtier ${RATE_ARGS[*]} (asks $((2 * 25 * RATE)) ops/s)," \
        "${RATE_SECONDS}s" ;;
    esac
}

report() {
    local part
    for part in $PARTS; do
        grep -q "^$part"$'\t' "$RESULTS" 2>/dev/null || continue
        echo
        title "$part"
        if [ "$part" = rate ]; then rate_table; else table "$part"; fi
        if [ "$part" = rate ]; then
            echo "logstord/peer (goals: server CPU/op and latency <= 1.0x; ops/s: the rate held):"
        else
            echo "logstord/peer (goals: ops/s >= 1.0x, server CPU/op and latency <= 1.0x):"
        fi
        ratios "$part"
    done | tee "$WORK/report.txt"
    echo
    echo "bench: goals met $(grep -o ' meets' "$WORK/report.txt" | wc -l)," \
        "not met $(grep -oE ' (below|above) 1.0x' "$WORK/report.txt" | wc -l)" \
        "(ratios marked n/a: $(grep -c ' n/a' "$WORK/report.txt"))"
}

# ---- main -------------------------------------------------------------------------------------
drop_part() { # NAME: leaves part NAME out of PARTS
    local p kept=""
    for p in $PARTS; do [ "$p" = "$1" ] || kept="$kept $p"; done
    PARTS=${kept# }
}
known=""
for t in $TARGETS; do
    case $t in
    logstord-sync | logstord-periodic | redis | redis-always | redis-everysec | memcached | \
        memcached-t[1-9] | memcached-t[1-9][0-9]) known="$known $t" ;;
    *) bench_fail "unknown target $t (see bench/lib.bash)" ;;
    esac
done
TARGETS=${known# }

echo "bench: parts: $PARTS; targets: $TARGETS; $(nproc) CPUs, load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench: N=$N clients=$CLIENTS pipeline=$PIPE value=$VSIZE B keyspace=$KEYSPACE;" \
    "memtier ${MT_SECONDS}s, rate ${RATE_SECONDS}s"
echo "bench: $("$LOGSTORD" --version 2>/dev/null || echo "no $LOGSTORD"), $(redis-server --version |
    cut -d' ' -f1-3), $(memcached -V), redis-benchmark $(redis-benchmark --version | cut -d' ' -f2)"
case " $PARTS " in *" mc "*)
    build_mcload || { bench_fail "cannot build mcload: the mc part is skipped"; drop_part mc; } ;;
esac
case " $PARTS " in *" memtier "* | *" rate "*)
    if find_memtier; then
        echo "bench: $MEMTIER ($("$MEMTIER" --version | head -n 1))"
    else
        bench_fail "memtier_benchmark missing: the memtier and rate parts are skipped"
        drop_part memtier
        drop_part rate
    fi ;;
esac

kept=""
for part in $PARTS; do
    case $part in
    rb | mc | memtier | rate) kept="$kept $part" ;;
    *) bench_fail "unknown part $part (parts: rb mc memtier rate)" ;;
    esac
done
PARTS=${kept# }
REVERSED=$(echo "$TARGETS" | tr ' ' '\n' | tac | tr '\n' ' ')
ROUND_FILES=()
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    RESULTS="$WORK/results.$ROUND.tsv"
    ROUND_FILES+=("$RESULTS")
    : >"$RESULTS"
    sync # what ran before the bench writes its dirty pages now, not in a target's load
    order=$TARGETS
    [ $((ROUND % 2)) -eq 0 ] && order=$REVERSED
    for part in $PARTS; do
        targets=()
        for t in $order; do applies "$part" "$t" && targets+=("$t"); done
        case $part in
        rb | mc) part_interleaved "$part" "${targets[@]}" ;;
        memtier)
            for load in default 1k; do
                for t in "${targets[@]}"; do part_memtier "$t" "$load"; done
            done ;;
        rate) for t in "${targets[@]}"; do part_rate "$t"; done ;;
        esac
    done
done
RESULTS="$WORK/results.tsv"
medians "${ROUND_FILES[@]}" >"$RESULTS"

echo
echo "bench: figures are medians of $ROUNDS round(s); spread = (max - min) / median of ops/s"
report
echo "bench: ${SECONDS}s in all; command: BENCH_ROUNDS=$ROUNDS" \
    "BENCH_PARTS=\"${BENCH_PARTS:-rb mc memtier rate}\"" \
    "BENCH_TARGETS=\"$TARGETS\" BENCH_N=$N BENCH_MEMTIER_SECONDS=$MT_SECONDS" \
    "BENCH_RATE_SECONDS=$RATE_SECONDS${BENCH_RATE_ARGS:+ BENCH_RATE_ARGS=\"$BENCH_RATE_ARGS\"}" \
    "${BENCH_LOGSTORD_ARGS:+BENCH_LOGSTORD_ARGS=\"$BENCH_LOGSTORD_ARGS\" }bash bench/run.sh $BUILD"
if [ ${#FAILURES[@]} -gt 0 ]; then
    echo "bench: ${#FAILURES[@]} failure(s):"
    printf '  %s\n' "${FAILURES[@]}"
    exit 1
fi
