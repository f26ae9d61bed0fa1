#!/usr/bin/env bash
# conf/logstor.conf and the descriptor table agree, and bad values are refused: every key
# of `logstord --help` is in the file with its default, the file passes --check-config,
# the compaction keys parse, and cross-key rules (compact_high > compact_low, disk_size
# holds a file) are errors before start-up. Starts no server.
source "$(dirname "$0")/lib.bash"
it_begin config_file 60
if [ "$IS_REAL" = 1 ]; then
    echo "SKIP config_file: logstord's configuration only"
    it_finish
fi
BIN=${LOGSTORD:-build/logstord}
CONF="$(dirname "$0")/../../conf/logstor.conf"

section "conf/logstor.conf lists every key with its default"
keys=0; missing=
while read -r key def; do
    keys=$((keys + 1))
    [ "$def" = "[]" ] && def='""' || def=${def:1:-1}
    grep -qx "$key $def" "$CONF" || missing="$missing $key=$def"
done < <("$BIN" --help | sed -n 's/^  \([a-z_]*\) *\(\[[^]]*\]\).*/\1 \2/p')
expect_true "--help lists keys ($keys)" [ "$keys" -gt 30 ]
expect_eq "keys missing from the file or with another default" "${missing:-none}" "none"
expect_eq "--check-config of the file" "$("$BIN" -c "$CONF" --check-config 2>&1)" \
    "configuration OK: $CONF"
ok=$("$BIN" --compact_policy cost-benefit --compaction_groups 64 --compact_low 32 \
    --compact_high 48 --separator_memory 16mb --busy_timeout_ms 0 --check-config 2>&1)
expect_eq "the compaction keys accept their values" "$ok" "configuration OK"

section "bad values are refused"
bad() { # WHAT WANT-SUBSTRING ARGS...
    local what=$1 want=$2; shift 2
    local out
    out=$("$BIN" "$@" --check-config 2>&1)
    local st=$?
    expect_true "$what (exit $st: $out)" [ $st -ne 0 -a -z "${out##*"$want"*}" ]
}
bad "compact_policy lazy" "must be one of: greedy cost-benefit" --compact_policy lazy
bad "compaction_groups 65" "'compaction_groups' must be between 1 and 64" --compaction_groups 65
bad "compaction_groups 0" "'compaction_groups' must be between 1 and 64" --compaction_groups 0
# a value larger than a data file could never be written (it waited busy_timeout_ms and
# failed "server busy"): refused before start-up
bad "max_value_size over file_size" "'max_value_size' (67108864) must fit in one data file" \
    --max_value_size 64mb
bad "max_value_size over a small file_size" "must fit in one data file" --file_size 1mb \
    --max_value_size 2mb
bad "separator_memory 1kb" "'separator_memory' must be between" --separator_memory 1kb
bad "compact_high 16 under compact_low 32" "'compact_high' (16) must be above 'compact_low' (32)" \
    --compact_low 32 --compact_high 16
bad "compact_low 8" "'compact_low' (8) must be 0 (automatic) or at least 16" --compact_low 8
bad "disk_size 16mb with 32mb files" "must hold at least one data file" --disk_size 16mb
expect_eq "disk_size 16mb with file_size 4mb" \
    "$("$BIN" --disk_size 16mb --file_size 4mb --check-config 2>&1)" "configuration OK"
it_finish
