#!/usr/bin/env bash
# README command 1: build and install silo, start silod, import a busybox image, list images.
#
# Usage: scripts/demo.sh
# Leaves silod running on /run/silo/silo.sock (state in /var/lib/silo, log /var/log/silo/silod.log).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

socket=/run/silo/silo.sock
export SILO_HOST="unix://$socket"

ping() {
    [[ $(curl -fsS --max-time 2 --unix-socket "$socket" http://localhost/_ping 2>/dev/null) == OK ]]
}

if ping; then
    echo "demo: silod already running on $socket"
else
    echo "demo: starting silod on $socket (log: /var/log/silo/silod.log)"
    mkdir -p /run/silo /var/log/silo
    nohup silod -H "$SILO_HOST" >>/var/log/silo/silod.log 2>&1 </dev/null &
    for _ in $(seq 1 100); do
        ping && break
        sleep 0.1
    done
    if ! ping; then
        echo "demo: silod did not answer /_ping; last log lines:" >&2
        tail -n 30 /var/log/silo/silod.log >&2
        exit 1
    fi
fi

work=$(mktemp -d /tmp/silo-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

set -x
# Importing again would make a new image (import stamps the time) and leave the old one
# dangling; a second run just shows what is there.
if ! silo image inspect busybox:latest >/dev/null 2>&1; then
    silo-fixtures busybox-rootfs --out "$work/busybox.tar"
    silo import "$work/busybox.tar" busybox:latest
fi
silo images

# A container from that image, through the stock docker CLI (attached runs come later).
export DOCKER_HOST="$SILO_HOST"
cid=$(docker run -d busybox:latest sh -c 'echo "hello from a silo container on $(hostname)"; id; ls /')
docker wait "$cid"
docker logs "$cid"
docker rm "$cid" >/dev/null
