#!/usr/bin/env bash
# The write(2) send path (io_uring_sends no; the default sends through the engine's ring):
# the tests of slow readers, output limits and half-closed peers, run again with it.
# uring_sends.py runs its own checks in both modes.
set -u
d=$(dirname "$0")
export LOGSTORD_ARGS="${LOGSTORD_ARGS:-} --io_uring_sends no" PYTHONDONTWRITEBYTECODE=1
rc=0
for t in mget_memory half_close conn_memory; do
    echo "--- $t.py with io_uring_sends no"
    timeout 270 python3 "$d/$t.py" || rc=1
done
exit $rc
