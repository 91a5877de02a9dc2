#!/usr/bin/env bash
# Pull benchmark: silo against skopeo (and docker / podman with --with-peers) in one run, on the
# same machine, against the same local registry, reported as ratios. See bench/README.md.
#
# Usage: bench/pull.sh [--runs N] [--with-peers] [--install-peers] [--out DIR]
#   --runs N          timed runs per tool (default 10)
#   --with-peers      also time `docker pull` (dockerd started here) and `podman pull`
#   --install-peers   apt-get install docker.io / podman if missing (implies --with-peers)
#   --out DIR         where pull.json / pull.md go (default bench/results)
# Binaries: silod, silo, silo-fixtures from $SILO_BIN_DIR, else target/release, else PATH.
# Only loopback is used: the registry binds 127.0.0.1 and dockerd runs without bridge/iptables.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

runs=10
with_peers=0
install_peers=0
out=bench/results
while (($#)); do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --with-peers) with_peers=1; shift ;;
        --install-peers) with_peers=1; install_peers=1; shift ;;
        --out) out=$2; shift 2 ;;
        -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "pull.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"

silod=$(bin silod)
silo=$(bin silo)
fixtures=$(bin silo-fixtures)
for tool in docker-registry skopeo hyperfine curl; do
    command -v "$tool" >/dev/null || { echo "pull.sh: $tool missing (scripts/setup.sh)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/silo-bench.XXXXXX)
pids=()
silo_net=0
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    if [[ -f $work/silod.pid ]]; then
        kill "$(cat "$work/silod.pid")" 2>/dev/null || true
    fi
    sleep 0.5
    ((silo_net)) && remove_silo_net sbpull0
    # dockerd/podman may leave overlay mounts under $work.
    grep -o " ${work}[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
check_silo_net sbpull0
silo_net=1

# --- registry with the debian fixture -------------------------------------------------------
start_registry

echo "pull.sh: building the debian fixture (cached after the first run)"
"$fixtures" build debian --out "$work/debian"
"$fixtures" push --layout "$work/debian" --registry "$addr" --ref debian:bookworm
image=$addr/debian:bookworm
size=$(du -sb "$work/debian/blobs" | cut -f1)
echo "pull.sh: image $image ($((size / 1000 / 1000)) MB of blobs)"

# --- silo: fresh data root and daemon before every run (not timed) --------------------------
cat >"$work/reset-silo.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
if [[ -f $work/silod.pid ]]; then
    pid=\$(cat $work/silod.pid)
    kill "\$pid" 2>/dev/null || true
    for _ in \$(seq 1 100); do kill -0 "\$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "\$pid" 2>/dev/null || true
fi
grep -o " ${work}/s[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
# A short data root: each container's shim sockets (<root>/c/<64-hex id>/attach.sock) must
# fit in sun_path's 108 bytes.
rm -rf $work/s
"$silod" --data-root $work/s -H unix://$work/silod.sock --pidfile $work/silod.pid \\
    --insecure-registry $addr --bridge sbpull0 --bip 10.250.2.1/24 --exec-root $work/x \\
    >>$work/silod.log 2>&1 </dev/null &
for _ in \$(seq 1 200); do
    [[ \$(curl -fsS --unix-socket $work/silod.sock http://localhost/_ping 2>/dev/null) == OK ]] && exit 0
    sleep 0.1
done
echo "silod did not start; see $work/silod.log" >&2
tail -n 20 $work/silod.log >&2
exit 1
SH
chmod +x "$work/reset-silo.sh"

names=(silo skopeo)
prepares=("$work/reset-silo.sh" "rm -rf $work/skopeo-dest")
commands=(
    "SILO_HOST=unix://$work/silod.sock $silo pull $image"
    "skopeo --insecure-policy copy --quiet --src-tls-verify=false docker://$image oci:$work/skopeo-dest:latest"
)

# --- peers ----------------------------------------------------------------------------------
if ((with_peers)); then
    if ((install_peers)); then
        command -v dockerd >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io
        command -v podman >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y podman
    fi
    if command -v dockerd >/dev/null; then
        dsock=$work/dockerd.sock
        # No bridge, no iptables: dockerd must not touch the host's network configuration.
        dockerd --data-root "$work/docker-root" --exec-root "$work/docker-exec" \
            --pidfile "$work/dockerd.pid" -H "unix://$dsock" --bridge=none \
            --iptables=false --ip6tables=false --insecure-registry "$addr" \
            >"$work/dockerd.log" 2>&1 </dev/null &
        pids+=($!)
        wait_for dockerd curl -fsS --unix-socket "$dsock" http://localhost/_ping
        names+=(docker)
        prepares+=("docker -H unix://$dsock rmi -f $image >/dev/null 2>&1; docker -H unix://$dsock image prune -af >/dev/null")
        commands+=("docker -H unix://$dsock pull -q $image")
    else
        echo "pull.sh: dockerd not installed; skipping docker (use --install-peers)" >&2
    fi
    if command -v podman >/dev/null; then
        pflags="--root $work/podman-root --runroot $work/podman-run"
        names+=(podman)
        prepares+=("podman $pflags rmi -af >/dev/null 2>&1 || true")
        commands+=("podman $pflags pull -q --tls-verify=false $image")
    else
        echo "pull.sh: podman not installed; skipping podman (use --install-peers)" >&2
    fi
fi

# --- run ------------------------------------------------------------------------------------
args=(--runs "$runs" --warmup 1 --export-json "$out/pull.json" --export-markdown "$out/pull.md")
for i in "${!names[@]}"; do
    args+=(--prepare "${prepares[$i]}")
done
for i in "${!names[@]}"; do
    args+=(-n "${names[$i]}" "${commands[$i]}")
done
hyperfine "${args[@]}"

# --- ratios (medians; compare within one run only) ------------------------------------------
echo
echo "pull.sh: medians from $out/pull.json"
if command -v jq >/dev/null; then
    jq -r '.results[] | "\(.command) \(.median)"' "$out/pull.json"
else
    grep -E '"(command|median)"' "$out/pull.json" | sed -E 's/.*: "?([^",]*)"?,?/\1/' | paste -d' ' - -
fi >"$work/medians"
awk '
    { name[NR] = $1; med[$1] = $2 }
    END {
        for (i = 1; i <= NR; i++) printf "  %-8s median %.3f s\n", name[i], med[name[i]]
        for (i = 1; i <= NR; i++)
            if (name[i] != "silo" && med[name[i]] > 0)
                printf "  silo/%-8s %.2fx\n", name[i], med["silo"] / med[name[i]]
    }' "$work/medians"
