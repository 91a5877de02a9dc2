#!/usr/bin/env bash
# Container lifecycle benchmark: silo against raw crun (and docker / podman with --with-peers) in
# one run, on the same machine, from the same busybox image, reported as ratios.
# See bench/README.md.
#
# Usage: bench/lifecycle.sh [--runs N] [--slow-runs N] [--with-peers] [--install-peers] [--out DIR]
#   --runs N          timed runs per command for run --rm and exec (default 10)
#   --slow-runs N     timed runs for stop and 50 x run -d / rm -f (default: --runs, at most 5)
#   --with-peers      also time docker (dockerd + containerd started here) and podman
#   --install-peers   apt-get install docker.io / podman / crun / umoci if missing (implies --with-peers)
#   --out DIR         where lifecycle-*.json / lifecycle.md go (default bench/results)
# Binaries: silod, silo, silo-shim, silo-fixtures from $SILO_BIN_DIR, else target/release, else PATH.
# Only loopback is used: the registry binds 127.0.0.1, dockerd runs without bridge/iptables, and
# every container runs with --network none (its own empty network namespace).
# On a hybrid cgroup host whose cgroup2 has controllers (crun refuses those), crun and podman run
# in a private mount namespace without /sys/fs/cgroup/unified; see bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

runs=10
slow_runs=
with_peers=0
install_peers=0
out=bench/results
cmdline="bench/lifecycle.sh $*"
while (($#)); do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --slow-runs) slow_runs=$2; shift 2 ;;
        --with-peers) with_peers=1; shift ;;
        --install-peers) with_peers=1; install_peers=1; shift ;;
        --out) out=$2; shift 2 ;;
        -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "lifecycle.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ -n $slow_runs ]] || slow_runs=$((runs < 5 ? runs : 5))
mkdir -p "$out"
out=$(cd "$out" && pwd)

# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"

silod=$(bin silod)
silo=$(bin silo)
# silod starts the silo-shim that sits next to it.
[[ -x $(dirname "$silod")/silo-shim ]] || { say "no silo-shim next to $silod"; exit 1; }

if ((install_peers)); then
    missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v podman >/dev/null || missing+=(podman)
    command -v crun >/dev/null || missing+=(crun)
    command -v umoci >/dev/null || missing+=(umoci)
    if ((${#missing[@]})); then
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
    fi
fi
for tool in docker-registry skopeo hyperfine curl jq; do
    command -v "$tool" >/dev/null || { say "$tool missing (scripts/setup.sh)"; exit 1; }
done
have_crun=0
if command -v crun >/dev/null; then
    have_crun=1
else
    say "crun not installed: no raw crun rows (use --install-peers)"
fi
have_runc=0
command -v runc >/dev/null && have_runc=1

work=$(mktemp -d /tmp/silo-lc.XXXXXX)
chmod 755 "$work"
engine_env
ns=
in_ns=()
crun_root=$work/crun-state
runc_root=$work/runc-state
have_docker=0
have_podman=0
silo_net=0
pids=()

cleanup() {
    set +e
    say "cleaning up $work"
    clean_engines
    if ((have_crun)) && [[ -d $crun_root ]]; then
        for id in $("${in_ns[@]}" crun --root "$crun_root" list -q 2>/dev/null); do
            "${in_ns[@]}" crun --root "$crun_root" delete -f "$id" >/dev/null 2>&1
        done
    fi
    if ((have_runc)) && [[ -d $runc_root ]]; then
        for id in $(runc --root "$runc_root" list -q 2>/dev/null); do
            runc --root "$runc_root" delete -f "$id" >/dev/null 2>&1
        done
    fi
    stop_engines
    ((silo_net)) && remove_silo_net sblc0
    remove_work
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cgroup_ns
check_silo_net sblc0
silo_net=1

# --- registry with the busybox fixture ------------------------------------------------------
start_registry

push_busybox

# --- engines ---------------------------------------------------------------------------------
write_engine_sh

# Its default network on a bridge of its own (the containers here use --network none).
start_silod --bridge sblc0 --bip 10.250.1.1/24 --exec-root "$work/x"

if ((with_peers)); then
    if command -v dockerd >/dev/null && command -v containerd >/dev/null; then
        # containerd with its own root, state and sockets, so the figures and the clean-up
        # concern only this instance; dockerd without bridge or iptables.
        start_containerd
        start_dockerd --bridge=none --iptables=false --ip6tables=false --ip-masq=false
        have_docker=1
    else
        say "dockerd/containerd not installed; skipping docker (use --install-peers)"
    fi
    if command -v podman >/dev/null; then
        pull_podman
        have_podman=1
    else
        say "podman not installed; skipping podman (use --install-peers)"
    fi
fi

# --- raw crun: an OCI bundle of the same layer ------------------------------------------------
# Config from `crun spec` (read-only rootfs, no terminal); the network namespace is KEPT, so
# the raw runtime gets the same empty network namespace as `--network none`.
crun_note="crun not installed"
if ((have_crun)); then
    skopeo --insecure-policy copy --quiet --src-tls-verify=false "docker://$image" \
        "oci:$work/oci:busybox"
    rootfs=$work/rootfs
    if command -v umoci >/dev/null; then
        umoci unpack --image "$work/oci:busybox" "$work/umoci" >/dev/null
        mv "$work/umoci/rootfs" "$rootfs"
        crun_note="rootfs by umoci unpack"
    else
        mkdir -p "$rootfs"
        manifest=$(jq -r '.manifests[0].digest' "$work/oci/index.json")
        for layer in $(jq -r '.layers[].digest' "$work/oci/blobs/${manifest/://}"); do
            tar -xzf "$work/oci/blobs/${layer/://}" -C "$rootfs" --numeric-owner
        done
        crun_note="rootfs by tar -xzf of the layer (no umoci)"
    fi
    for b in true sleep; do
        mkdir -p "$work/bundle-$b"
        (cd "$work/bundle-$b" && crun spec)
        case $b in
            true) argv='["true"]' ;;
            sleep) argv='["sleep","1000"]' ;;
        esac
        jq --arg root "$rootfs" --argjson argv "$argv" \
            '.process.args = $argv | .process.terminal = false | .root.path = $root' \
            "$work/bundle-$b/config.json" >"$work/bundle-$b/config.json.new"
        mv "$work/bundle-$b/config.json.new" "$work/bundle-$b/config.json"
    done
    crun_note="$crun_note; config from \`crun spec\`, args [true], terminal false, own network namespace kept (= --network none)"
    [[ -z $ns ]] || crun_note="$crun_note; crun and podman run in a mount namespace without /sys/fs/cgroup/unified (hybrid cgroups with cgroup2 controllers)"
fi
crun_id=silo-lc-$$
((have_crun)) || have_runc=0 # the runc rows use the bundle made above

# --- measuring --------------------------------------------------------------------------------
# results.tsv: section, key, label, median s, mean s, stddev s, status ("ok", "failed: why",
# "k/N runs failed"). Medians are from hyperfine; a command that fails its probe is not timed.
results=$work/results.tsv
: >"$results"
engines=(silo)
((have_docker)) && engines+=(docker)
((have_podman)) && engines+=(podman)
clean_all() {
    local e
    for e in "${engines[@]}"; do
        run_sh "$work/engine.sh $e clean"
    done
}

S="DOCKER_HOST=unix://$ssock $docker_cli"
D="DOCKER_HOST=unix://$dsock $docker_cli"
P="podman $pflags"
C="crun --root $crun_root"
R="runc --root $runc_root"

# 1. run --rm busybox true ----------------------------------------------------------------------
say "1/5 run --rm $image true"
add silo "silo (docker CLI)" true "$S run --rm --network none $image true"
add silo-cli "silo (silo CLI)" true "SILO_HOST=unix://$ssock $silo run --rm $image true"
((have_docker)) && add docker "docker" true "$D run --rm --network none $image true"
((have_podman)) && add podman "podman" true "$P run --rm --network none $image true"
((have_crun)) && add crun "raw crun run" true "$C run --bundle $work/bundle-true $crun_id-true"
((have_runc)) && add runc "raw runc run" true "$R run --bundle $work/bundle-true $crun_id-true"
bench run 1 "$runs"
clean_all

# 2. exec true into a running sleep container ----------------------------------------------------
say "2/5 exec true"
ready() { # ready KEY CMD...: start the exec target, or leave the row to fail with the reason
    local key=$1
    shift
    if ! "$@" >"$work/exec-target-$key.log" 2>&1; then
        say "exec target for $key did not start: $(reason "$work/exec-target-$key.log")"
    fi
}
start_exec_targets() {
    ready silo sh -c "$S run -d --network none --name lc-exec $image sleep 1000"
    ((have_docker)) && ready docker sh -c "$D run -d --network none --name lc-exec $image sleep 1000"
    ((have_podman)) && ready podman run_sh "$P run -d --network none --name lc-exec $image sleep 1000"
    ((have_crun)) && ready crun run_sh "$C run --detach --bundle $work/bundle-sleep $crun_id-sleep </dev/null"
    ((have_runc)) && ready runc run_sh "$R run --detach --bundle $work/bundle-sleep $crun_id-sleep </dev/null"
    true
}
start_exec_targets
add silo "silo (docker CLI)" true "$S exec lc-exec true"
((have_docker)) && add docker "docker" true "$D exec lc-exec true"
((have_podman)) && add podman "podman" true "$P exec lc-exec true"
((have_crun)) && add crun "raw crun exec" true "$C exec $crun_id-sleep true"
((have_runc)) && add runc "raw runc exec" true "$R exec $crun_id-sleep true"
bench exec 2 "$runs"
clean_all
((have_crun)) && run_sh "$C delete -f $crun_id-sleep" >/dev/null 2>&1
((have_runc)) && run_sh "$R delete -f $crun_id-sleep" >/dev/null 2>&1
true

# 3. stop of a container whose command is sleep 1000 ---------------------------------------------
# A fresh container for every run (--prepare); only `stop` is timed. Without an init, sleep as
# PID 1 ignores SIGTERM and stop waits its 10 s timeout before SIGKILL.
say "3/5 stop (sleep 1000)"
stop_prep() { # stop_prep CLI NAME [RUN FLAGS]
    echo "$1 rm -f $2 >/dev/null 2>&1; $1 run -d --network none --name $2 ${3:-} $image sleep 1000 >/dev/null"
}
add silo "silo (its default)" "$(stop_prep "$S" lc-stop)" "$S stop lc-stop"
if ((have_docker)); then
    add docker "docker (no init: 10 s timeout)" "$(stop_prep "$D" lc-stop)" "$D stop lc-stop"
    add docker-init "docker --init" "$(stop_prep "$D" lc-stop-init --init)" "$D stop lc-stop-init"
fi
if ((have_podman)); then
    if [[ -x /usr/libexec/podman/catatonit ]]; then
        add podman-init "podman --init" "$(stop_prep "$P" lc-stop-init --init)" "$P stop lc-stop-init"
    elif [[ -x /usr/bin/docker-init ]]; then
        add podman-init "podman --init (tini)" \
            "$(stop_prep "$P" lc-stop-init "--init --init-path /usr/bin/docker-init")" "$P stop lc-stop-init"
    fi
fi
bench stop 0 "$slow_runs"
clean_all

# 4. 50 x run -d, then rm -f of all ---------------------------------------------------------------
say "4/5 50 x run -d, rm -f all"
add silo "silo (docker CLI)" "$work/engine.sh silo clean" "$work/engine.sh silo run50"
((have_docker)) && add docker "docker" "$work/engine.sh docker clean" "$work/engine.sh docker run50"
((have_podman)) && add podman "podman" "$work/engine.sh podman clean" "$work/engine.sh podman run50"
bench bulk-run 0 "$slow_runs"
add silo "silo (docker CLI)" "$work/engine.sh silo clean && $work/engine.sh silo run50" "$work/engine.sh silo rm50"
((have_docker)) && add docker "docker" "$work/engine.sh docker clean && $work/engine.sh docker run50" "$work/engine.sh docker rm50"
((have_podman)) && add podman "podman" "$work/engine.sh podman clean && $work/engine.sh podman run50" "$work/engine.sh podman rm50"
bench bulk-rm 0 "$slow_runs"
clean_all

# 5. memory ---------------------------------------------------------------------------------------
say "5/5 memory"
mem=$work/mem.tsv # what, engine, kB
: >"$mem"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
sum_field() { # sum_field FIELD FILE-SUFFIX PID...: sum of a /proc/PID/... kB field
    local field=$1 file=$2 total=0 pid v
    shift 2
    for pid in "$@"; do
        v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/$file" 2>/dev/null)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}
sleep 3 # let the daemons settle after the runs
{
    echo -e "daemon\tsilo\t$(rss "$(cat "$work/silod.pid")")"
    if ((have_docker)); then
        echo -e "daemon\tdocker\t$(($(rss "$dockerd_pid") + $(rss "$containerd_pid")))"
        echo -e "daemon-dockerd\tdocker\t$(rss "$dockerd_pid")"
        echo -e "daemon-containerd\tdocker\t$(rss "$containerd_pid")"
    fi
} >>"$mem"
shim_of() {
    case $1 in
        silo) echo silo-shim ;;
        docker) echo containerd-shim ;; # comm of containerd-shim-runc-v2, cut to 15 characters
        podman) echo conmon ;;
    esac
}
cli_of() {
    case $1 in
        silo) echo "$S" ;;
        docker) echo "$D" ;;
        podman) echo "$P" ;;
    esac
}
measure_shims() { # measure_shims N: N containers per engine were started
    local n=$1 e shims
    for e in "${engines[@]}"; do
        mapfile -t shims < <(our_procs "$(shim_of "$e")")
        echo -e "shim-count-$n\t$e\t${#shims[@]}" >>"$mem"
        echo -e "running-$n\t$e\t$(run_sh "$(cli_of "$e") ps -q" 2>/dev/null | wc -l)" >>"$mem"
        if ((${#shims[@]})); then
            echo -e "shim-pss-$n\t$e\t$(sum_field Pss smaps_rollup "${shims[@]}")" >>"$mem"
            echo -e "shim-rss-$n\t$e\t$(sum_field VmRSS status "${shims[@]}")" >>"$mem"
        fi
    done
}
start_sleepers() { # start_sleepers FIRST LAST: containers lc-mem-FIRST..LAST in every engine
    local i e
    for i in $(seq "$1" "$2"); do
        for e in "${engines[@]}"; do
            run_sh "$(cli_of "$e") run -d --network none --name lc-mem-$i $image sleep 1000" \
                >/dev/null 2>>"$work/sleepers.log" || true
        done
    done
    sleep 2
}
start_sleepers 1 1
measure_shims 1
start_sleepers 2 5
measure_shims 5
clean_all

# --- report ---------------------------------------------------------------------------------------
md=$out/lifecycle.md
median_of() { awk -F'\t' -v s="$1" -v k="$2" '$1 == s && $2 == k && $7 == "ok" { print $4 }' "$results"; }
verdict() { # verdict VALUE LIMIT
    [[ -n $1 ]] || { echo "not measured"; return; }
    awk -v v="$1" -v l="$2" 'BEGIN { print (v <= l ? "**met**" : "**missed**") }'
}
goal_time() { [[ -n $1 ]] && echo "$(fmt_time "$1"): $(verdict "$1" "$2")" || echo "not measured"; }
goal_ratio() { [[ -n $1 ]] && echo "$1×: $(verdict "$1" "$2")" || echo "not measured"; }
time_table() { # time_table SECTION: one row per command, ratios against the silo row
    local base
    base=$(median_of "$1" silo)
    echo "| tool | median | mean ± σ | silo / tool |"
    echo "|---|---|---|---|"
    while IFS=$'\t' read -r s k label med mean sd status; do
        [[ $s == "$1" ]] || continue
        if [[ $med == - ]]; then
            echo "| $label | $status | | |"
            continue
        fi
        local r note=""
        [[ $status == ok ]] || note=" ($status)"
        r=$(ratio "$base" "$med")
        [[ $k == silo* || -z $r ]] && r="—" || r="${r}×"
        echo "| $label | $(fmt_time "$med")$note | $(fmt_time "$mean") ± $(fmt_time "$sd") | $r |"
    done <"$results"
}
mem_of() { awk -F'\t' -v w="$1" -v e="$2" '$1 == w && $2 == e { print $3 }' "$mem"; }
mib() { [[ -n $1 ]] && awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }' || echo "—"; }
per() { [[ -n $1 && -n $2 && $2 -gt 0 ]] && awk -v k="$1" -v n="$2" 'BEGIN { printf "%.2f MiB", k / n / 1024 }' || echo "—"; }

{
    echo "# silo lifecycle benchmark"
    echo
    echo "- run: \`$cmdline\` on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, kernel $(uname -r)"
    echo "- silo: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repo" diff --quiet 2>/dev/null || echo ' + uncommitted changes'), binaries $(dirname "$silod"); init: $silo_init_note"
    echo "- docker CLI $($docker_cli --version | sed 's/Docker version //; s/,.*//') drives both silod and dockerd$( ((have_docker)) && echo "; dockerd $(dockerd --version | sed 's/Docker version //; s/,.*//'), containerd $(containerd --version | awk '{print $3}')")$( ((have_podman)) && echo "; podman $(podman --version | awk '{print $3}')")$( ((have_crun)) && echo "; crun $(crun --version | awk 'NR==1 {print $3}')")"
    echo "- image: \`$image\` (silo-fixtures busybox, one layer) pulled into every engine; every container runs with \`--network none\`"
    echo "- raw crun bundle: $crun_note"
    echo "- runs: $runs (run, exec), $slow_runs (stop, 50 × run -d / rm -f); medians; ratios are silo (docker CLI) median / tool median, from the same hyperfine run"
    echo
    echo "## 1. \`run --rm busybox true\`"
    echo
    time_table run
    echo
    echo "Goal: silo ≤ 4× raw crun — $(goal_ratio "$(ratio "$(median_of run silo)" "$(median_of run crun)")" 4)"
    echo
    echo "## 2. \`exec true\` into a running \`sleep\` container"
    echo
    time_table exec
    echo
    echo "Goal: silo ≤ 3× raw crun exec — $(goal_ratio "$(ratio "$(median_of exec silo)" "$(median_of exec crun)")" 3)"
    echo
    echo "## 3. \`stop\` of a container running \`sleep 1000\` (fresh container per run, only stop timed)"
    echo
    time_table stop
    echo
    echo "Goal: silo ≤ 100 ms — $(goal_time "$(median_of stop silo)" 0.1)"
    echo
    echo "## 4. 50 × \`run -d busybox sleep 1000\`, then \`rm -f\` of all 50"
    echo
    echo "### run -d × 50 (sequential)"
    echo
    time_table bulk-run
    echo
    echo "### rm -f of the 50 (one command)"
    echo
    time_table bulk-rm
    echo
    echo "Goal: 50 × run -d ≤ 1.5 s — $(goal_time "$(median_of bulk-run silo)" 1.5)"
    echo
    echo "## 5. Memory"
    echo
    echo "| what | silo | docker | podman |"
    echo "|---|---|---|---|"
    if ((have_docker)); then
        dmem="$(mib "$(mem_of daemon docker)") (dockerd $(mib "$(mem_of daemon-dockerd docker)") + containerd $(mib "$(mem_of daemon-containerd docker)"))"
    else
        dmem="not run"
    fi
    echo "| idle daemon RSS after the runs | $(mib "$(mem_of daemon silo)") (silod) | $dmem | $( ((have_podman)) && echo "no daemon" || echo "not run") |"
    for n in 1 5; do
        echo "| $n sleeping container(s) asked: running / shim processes | $(for e in silo docker podman; do [[ -n $(mem_of "running-$n" "$e") ]] && printf '%s / %s | ' "$(mem_of "running-$n" "$e")" "$(mem_of "shim-count-$n" "$e")" || printf 'not run | '; done)"
        echo "| shim PSS total, $n asked | $(for e in silo docker podman; do printf '%s | ' "$(mib "$(mem_of "shim-pss-$n" "$e")")"; done)"
        echo "| **shim PSS per running container**, $n asked | $(for e in silo docker podman; do printf '%s | ' "$(per "$(mem_of "shim-pss-$n" "$e")" "$(mem_of "running-$n" "$e")")"; done)"
        echo "| shim RSS per running container, $n asked | $(for e in silo docker podman; do printf '%s | ' "$(per "$(mem_of "shim-rss-$n" "$e")" "$(mem_of "running-$n" "$e")")"; done)"
    done
    echo
    echo "Shims: silo-shim (silo), containerd-shim-runc-v2 (docker), conmon (podman), found by name among processes whose command line names this run's temp dir; PSS from /proc/PID/smaps_rollup, RSS from /proc/PID/status."
    echo
    d=$(mem_of daemon silo)
    echo "Goal: daemon idle ≤ 20 MiB — $(mib "$d"): $(verdict "$d" $((20 * 1024)))"
    p=$(mem_of shim-pss-5 silo)
    c=$(mem_of running-5 silo)
    echo
    echo "Goal: shim ≤ 1 MiB PSS per container — $( [[ -n $p && ${c:-0} -gt 0 ]] && echo "$(per "$p" "$c") with $c running: $(verdict "$(awk -v k="$p" -v n="$c" 'BEGIN { print k / n }')" 1024)" || echo "not measured")"
    if grep -q failed "$results"; then
        echo
        echo "Failed rows: the probe (one untimed run before hyperfine) failed; the message is the last error line the command printed (all output: lifecycle-logs/probe-SECTION-ROW.log)."
    fi
} >"$md"

echo
cat "$md"
