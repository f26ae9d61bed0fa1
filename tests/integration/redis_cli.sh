#!/usr/bin/env bash
# redis-cli and redis-benchmark against the server: plain commands, -n DB, -x (stdin),
# -r (repeat), --scan, --csv, --bigkeys, --pipe mass insertion of 20000 keys, and a short
# redis-benchmark run (SET/GET, then pipelined) that must exit 0 and print its rates.
# TARGET=redis runs the same against redis-server.
set -u
source "$(dirname "$0")/lib.bash"
it_begin redis_cli 120
it_start

section "redis-cli commands"
expect_eq "redis-cli ping" "$(rc ping)" "PONG"
expect_eq "redis-cli set a b" "$(rc set a b)" "OK"
expect_eq "redis-cli get a" "$(rc get a)" "b"
expect_eq "redis-cli get nokey (raw: empty line)" "$(rc get nokey)" ""
expect_eq "redis-cli --no-raw get nokey" "$(rc --no-raw get nokey)" "(nil)"
expect_eq "redis-cli incr n" "$(rc incr n)" "1"
expect_eq "redis-cli --no-raw incr n" "$(rc --no-raw incr n)" "(integer) 2"
expect_eq "redis-cli set with spaces in the value" "$(rc set sp 'hello world')" "OK"
expect_eq "redis-cli get sp" "$(rc get sp)" "hello world"
expect_eq "redis-cli set s x EX 100" "$(rc set s x EX 100)" "OK"
ttl=$(rc ttl s)
expect_true "redis-cli ttl s is 99..100 (got $ttl)" test "$ttl" -ge 99 -a "$ttl" -le 100
expect_eq "redis-cli mset" "$(rc mset m1 v1 m2 v2)" "OK"
expect_eq "redis-cli --csv mget m1 m2 nokey" "$(rc --csv mget m1 m2 nokey)" '"v1","v2",NULL'
expect_eq "redis-cli -n 3 set x y" "$(rc -n 3 set x y)" "OK"
expect_eq "redis-cli -n 3 dbsize" "$(rc -n 3 dbsize)" "1"
expect_eq "redis-cli -n 3 get a (other db)" "$(rc -n 3 get a)" ""
expect_eq "redis-cli -r 5 incr ctr (last reply)" "$(rc -r 5 incr ctr | tail -n 1)" "5"
expect_eq "redis-cli -x set fromstdin < 'hello'" "$(printf hello | rc -x set fromstdin)" "OK"
expect_eq "redis-cli get fromstdin" "$(rc get fromstdin)" "hello"
expect_eq "redis-cli unknown command" "$(rc nosuchcommand x 2>&1)" \
    "ERR unknown command 'nosuchcommand', with args beginning with: 'x' "
expect_eq "redis-cli get (wrong arity)" "$(rc get 2>&1)" "ERR wrong number of arguments for 'get' command"
info=$(rc info server)
expect_true "redis-cli info server has redis_version and tcp_port:$PORT" \
    grep -q "tcp_port:$PORT" <<<"$info"
# Commands from stdin, one per line, as `redis-cli < file` does.
out=$(printf 'set fromfile 1\nincr fromfile\nget fromfile\n' | rc)
expect_eq "redis-cli < commands file" "$(echo $out)" "OK 2 2"

section "redis-cli --scan and --bigkeys"
for i in $(seq 1 30); do echo "SET scan:$i $i"; done | rc >/dev/null
expect_eq "redis-cli --scan --pattern 'scan:*' | wc -l" "$(rc --scan --pattern 'scan:*' | wc -l)" "30"
expect_eq "redis-cli --scan --pattern 'scan:1?' | sort | head -1" \
    "$(rc --scan --pattern 'scan:1?' | sort | head -n 1)" "scan:10"
big=$(rc --bigkeys 2>&1)
expect_true "redis-cli --bigkeys finishes and reports strings" grep -q "strings with" <<<"$big"

section "redis-cli --pipe (mass insertion, RESP)"
python3 - >"$DATA_DIR/mass.resp" <<'PY'
import sys
out = sys.stdout.buffer
for i in range(20000):
    k, v = b"mass:%d" % i, b"value-%d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
PY
pipe_out=$(rc --pipe <"$DATA_DIR/mass.resp" 2>&1)
pipe_rc=$?
expect_eq "redis-cli --pipe exit status" "$pipe_rc" "0"
expect_true "redis-cli --pipe: 'errors: 0, replies: 20000'" grep -q "errors: 0, replies: 20000" <<<"$pipe_out"
expect_eq "get mass:19999 after --pipe" "$(rc get mass:19999)" "value-19999"
expect_eq "get mass:0 after --pipe" "$(rc get mass:0)" "value-0"
n=$(rc --scan --pattern 'mass:*' | wc -l)
expect_eq "redis-cli --scan finds the 20000 mass:* keys" "$n" "20000"
# Inline form through --pipe too.
pipe_out=$(printf 'SET inl1 a\r\nSET inl2 b\r\nINCR inlc\r\n' | rc --pipe 2>&1)
expect_true "redis-cli --pipe with inline commands: 'errors: 0, replies: 3'" \
    grep -q "errors: 0, replies: 3" <<<"$pipe_out"
expect_eq "get inl2" "$(rc get inl2)" "b"

section "redis-benchmark"
bench() {
    timeout 90 redis-benchmark -h 127.0.0.1 -p "$PORT" "$@" 2>&1 | tr '\r' '\n' | grep -Ev 'rps=|^ *$'
    return "${PIPESTATUS[0]}"
}
out=$(bench -t set,get -n 20000 -c 20 -q)
st=$?
echo "$out"
expect_eq "redis-benchmark -t set,get -n 20000 -c 20 -q exit status" "$st" "0"
expect_true "redis-benchmark printed a SET rate" grep -Eq '^SET: [0-9.]+ requests per second' <<<"$out"
expect_true "redis-benchmark printed a GET rate" grep -Eq '^GET: [0-9.]+ requests per second' <<<"$out"
expect_eq "the benchmark's key holds its 3-byte value" "$(rc get key:__rand_int__)" "VXK"
out=$(bench -t set,get -n 20000 -c 20 -P 16 -r 1000 -q)
st=$?
echo "$out"
expect_eq "redis-benchmark -P 16 -r 1000 exit status" "$st" "0"
expect_true "redis-benchmark -P 16 printed SET and GET rates" \
    grep -Eq '^GET: [0-9.]+ requests per second' <<<"$out"
expect_true "server alive after the benchmarks" kill -0 "$SRV_PID"
it_stop TERM
expect_eq "server exit status after SIGTERM" "$SRV_STATUS" "0"
it_finish
