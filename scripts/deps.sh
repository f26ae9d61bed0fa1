#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, when any is missing.
# Called by `make run` and `make test`; does nothing when everything is there.
set -eu
need=""
for p in gcc make pkg-config libevent-dev liburing-dev libxxhash-dev libcmocka-dev \
         libhiredis-dev libluajit-5.1-dev python3-redis python3-pymemcache python3-celery python3-rq redis-tools redis-server memcached libmemcached-tools clang \
         libclang-rt-14-dev tcl fio ${EXTRA_PKGS:-}; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
[ -z "$need" ] && exit 0
echo "deps: installing$need"
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need
