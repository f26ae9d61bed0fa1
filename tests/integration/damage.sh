#!/usr/bin/env bash
# A damaged or misused data directory (issue 11, defects 14 and 15): logstor-check
# reports every kind of damage (exit 1), logstord refuses to start on the ones that would
# lose data silently (with the reason in its log) and starts with `salvage yes`.
source "$(dirname "$0")/lib.bash"
it_begin damage 150
if [ "$IS_REAL" = 1 ]; then
    echo "SKIP damage: logstord's data directory only"
    it_finish
fi
BIN=${LOGSTORD:-build/logstord}
CHECK=$(dirname "$BIN")/logstor-check
ARGS=(--disk_size 64mb --file_size 4mb --max_value_size 64kb)

section "a directory with data in three files"
it_start "${ARGS[@]}"
python3 -c '
import sys
v = "v" * 1000
for i in range(10000):
    k = "key:%d" % i
    sys.stdout.write("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
' | timeout 60 redis-cli -p "$PORT" --pipe >/dev/null
expect_eq "keys written" "$(rc dbsize)" "10000"
it_stop
# three files of data (the engine may have made the next one ahead of need)
nfiles=$(ls "$DATA_DIR"/data-*.lsd | wc -l)
# the last file holding data: a file made ahead (seg_prepare) holds only zeros, and one
# still being made when the server stopped is not the directory's yet, so deleting it
# loses nothing (this check failed about 1 run in 3 when it took such a file)
LAST=
for f in $(ls -r "$DATA_DIR"/data-*.lsd); do
    if [ "$(tr -d '\0' <"$f" | head -c 1 | wc -c)" -gt 0 ]; then LAST=$(basename "$f") && break; fi
done
expect_true "at least three data files ($nfiles)" [ "$nfiles" -ge 3 ]
out=$("$CHECK" "$DATA_DIR" 2>&1); st=$?
expect_eq "logstor-check of the intact directory (${out##*$'\n'})" "$st" "0"

OTHER=$(mktemp -d /tmp/logstor-it-other-XXXXXX)
trap 'rm -rf "$OTHER" "$DATA_DIR".c "$DATA_DIR".c.log; it_cleanup' EXIT
"$BIN" --port "$(it_free_port)" --memcached_port 0 --dir "$OTHER" "${ARGS[@]}" \
    --loglevel warning >/dev/null 2>&1 & opid=$!
for i in $(seq 1 100); do [ -f "$OTHER/logstor.meta" ] && break; sleep 0.05; done
kill $opid; wait $opid 2>/dev/null

# damage NAME SHELL-COMMAND WANT-IN-LOG: a copy of the directory, damaged, checked, started
damage() {
    local name=$1 cmd=$2 want=$3 dir="$DATA_DIR.c"
    rm -rf "$dir"; cp -a "$DATA_DIR" "$dir"; rm -f "$dir/server.log"
    (cd "$dir" && eval "$cmd")
    out=$("$CHECK" "$dir" 2>&1); st=$?
    expect_true "$name: logstor-check exits 1 and says DAMAGED (exit $st)" \
        [ $st -eq 1 -a -z "${out##*DAMAGED*}" ]
    [ -z "$want" ] && return
    timeout 20 "$BIN" --port 0 --memcached_port 0 --dir "$dir" "${ARGS[@]}" >"$dir.log" 2>&1
    st=$?
    expect_true "$name: logstord refuses to start (exit $st) and says why" \
        [ $st -ne 0 ] && grep -q "$want" "$dir.log"
    [ $st -ne 0 ] || echo "   log: $(tail -3 "$dir.log")"
}

section "damage that is refused"
damage "logstor.meta deleted" "rm logstor.meta" "no logstor.meta"
damage "a data file deleted" "rm data-000001.lsd" "data-000001.lsd is missing"
damage "the last data file deleted" "rm $LAST" "$LAST is missing"
damage "two data files swapped" \
    "mv data-000000.lsd x && mv data-000001.lsd data-000000.lsd && mv x data-000001.lsd" \
    "hold headers of other segments"
damage "a data file replaced by random bytes" \
    "head -c 4194304 /dev/urandom > data-000001.lsd" "holds nothing this directory wrote"
damage "another directory's logstor.meta" "cp '$OTHER/logstor.meta' ." \
    "holds nothing this directory wrote"

section "damage that is counted"
damage "one flipped byte in a buffer header" \
    "printf '\\x55' | dd of=data-000000.lsd bs=1 seek=131080 conv=notrunc status=none" ""

section "salvage"
dir="$DATA_DIR.c"; rm -rf "$dir"; cp -a "$DATA_DIR" "$dir"; rm -f "$dir/data-000001.lsd"
PORT=$(it_free_port)
"$BIN" --port "$PORT" --memcached_port 0 --dir "$dir" "${ARGS[@]}" --salvage yes \
    --loglevel warning >"$dir.log" 2>&1 & SRV_PID=$!
it_wait_ready || exit 1
n=$(rc dbsize)
expect_true "salvage starts and serves what it could read ($n keys)" [ "$n" -gt 0 -a "$n" -lt 10000 ]
expect_true "and logs what it lost" grep -q "damaged files" "$dir.log"
it_stop
it_finish
