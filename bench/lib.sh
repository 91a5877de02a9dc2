# shellcheck shell=bash disable=SC2154,SC2034
# Helpers shared by the bench scripts; sourced, not run. Callers set `repo` (the checkout),
# `out` (results dir), `work` (their temp dir) and the `pids` array (processes their cleanup
# kills) before calling start_registry; the helpers read and set the callers' variables (hence
# the disabled SC2154 / SC2034).

bench_name=$(basename "$0")

free_port() {
    local p
    for p in $(shuf -i 20000-45000 -n 50); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    echo "$bench_name: no free port" >&2
    exit 1
}

wait_for() { # wait_for DESCRIPTION CMD...: polls CMD every 0.1 s for up to 30 s
    local what=$1
    shift
    for _ in $(seq 1 300); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "$bench_name: $what not ready after 30 s" >&2
    return 1
}

start_registry() { # Debian's docker-registry on a free 127.0.0.1 port; sets `addr`
    local port
    port=$(free_port)
    addr=127.0.0.1:$port
    mkdir -p "$work/registry"
    cat >"$work/registry/config.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry/storage
http:
  addr: $addr
  secret: silo-bench
YML
    docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
    pids+=($!)
    wait_for "docker-registry on $addr" curl -fsS "http://$addr/v2/"
}

say() { echo "$bench_name: $*" >&2; }

bin() { # bin NAME [optional]: from $SILO_BIN_DIR, else $repo/target/release, else PATH
    local name=$1 dir
    for dir in "${SILO_BIN_DIR:-}" "$repo/target/release"; do
        if [[ -n $dir && -x $dir/$name ]]; then
            echo "$dir/$name"
            return
        fi
    done
    command -v "$name" && return
    [[ ${2:-} == optional ]] && return 0
    say "$name not found (cargo build --release)"
    exit 1
}

# --- the scripts' own processes --------------------------------------------------------------
# Our own supervisor processes: name (comm) and a command line that mentions $work, so that
# other engineers' containers on this machine are never counted nor killed.
our_procs() { # our_procs COMM
    local d pid
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [[ $(cat "$d/comm" 2>/dev/null) == "$1" ]] || continue
        tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF "$work/" || continue
        echo "$pid"
    done
}
descendants() { # descendants PID...: all processes below them
    ps -eo pid=,ppid= | awk -v roots="$*" '
        { parent[$1] = $2 }
        END {
            n = split(roots, r, " ")
            for (i = 1; i <= n; i++) mark[r[i]] = 1
            do {
                changed = 0
                for (p in parent) if (!(p in mark) && (parent[p] in mark)) { mark[p] = 2; changed = 1 }
            } while (changed)
            for (p in mark) if (mark[p] == 2) print p
        }'
}
stop_pid() { # stop_pid PID: TERM, wait up to 5 s, KILL
    local pid=$1 i
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

# --- engines: common set-up -------------------------------------------------------------------
# The callers set `work`, `out`, `repo`, `pids` and `have_docker` / `have_podman` (0 or 1).
# These set `docker_cli`, `ssock`, `dsock`, `pflags`, `ns`, `in_ns`, `image`, `silo_init_note`,
# `containerd_pid`, `dockerd_pid`.

engine_env() { # the docker CLI, the daemons' sockets, podman's private dirs and containers.conf
    # The stock docker CLI drives silod and dockerd alike, so both see the same client.
    docker_cli=/usr/local/bin/docker
    [[ -x $docker_cli ]] || docker_cli=$(command -v docker) || { say "no docker CLI"; exit 1; }
    export DOCKER_CONFIG=$work/docker-config # keep ~/.docker (contexts, auths) out of it
    mkdir -p "$DOCKER_CONFIG"
    echo "{}" >"$DOCKER_CONFIG/config.json" # podman reads it too
    ssock=$work/silod.sock
    dsock=$work/dockerd.sock
    pflags="--root $work/podman-root --runroot $work/podman-run --tmpdir $work/podman-tmp --cgroup-manager cgroupfs --events-backend none"
    # podman as root asks for RLIMIT_NOFILE/NPROC far above the current limits, which fails
    # without CAP_SYS_RESOURCE (this VM): give it containerd's NOFILE default (what docker
    # containers get) and an NPROC the runtime can set here (at most kernel.pid_max).
    local nproc
    nproc=$(ulimit -Hu)
    [[ $nproc == unlimited || $nproc -gt $(cat /proc/sys/kernel/pid_max) ]] && nproc=$(cat /proc/sys/kernel/pid_max)
    export CONTAINERS_CONF=$work/containers.conf
    printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=%s:%s"]\n' "$nproc" "$nproc" >"$CONTAINERS_CONF"
}

# crun (1.8) refuses a hybrid cgroup layout whose cgroup2 has controllers ("cgroups in hybrid mode
# not supported, drop all controllers from cgroupv2"). Such a host gets a mount namespace of the
# script's own (slave: it never propagates back to the host) without /sys/fs/cgroup/unified,
# where crun sees plain cgroup v1; it goes away when the script exits. Every benchmarked command
# runs through the same shell, so hyperfine's shell calibration subtracts the nsenter hop from
# all of them alike.
cgroup_ns() {
    ns=
    in_ns=()
    [[ $(stat -f -c %T /sys/fs/cgroup) == tmpfs && $(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs &&
        -n $(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null) ]] || return 0
    ns=$work/ns/mnt
    mkdir -p "$work/ns"
    mount --bind "$work/ns" "$work/ns"
    mount --make-private "$work/ns"
    touch "$ns"
    unshare --mount="$ns" --propagation slave umount -l /sys/fs/cgroup/unified
    in_ns=(nsenter --mount="$ns")
    say "hybrid cgroups with cgroup2 controllers: crun and podman run in mount namespace $ns"
}
# run_sh CMD: a command line, through the shell every benchmarked command uses.
run_sh() { "${in_ns[@]}" sh -c "$1"; }

push_busybox() { # the busybox fixture into the registry of start_registry; sets `image`
    local fixtures
    fixtures=$(bin silo-fixtures)
    "$fixtures" build busybox --out "$work/busybox" >/dev/null
    "$fixtures" push --layout "$work/busybox" --registry "$addr" --ref busybox:latest >/dev/null
    image=$addr/busybox:latest
    say "image $image"
}

start_silod() { # start_silod [SILOD ARGS...]: a silod of this run's own, with the image pulled
    local silod silo init_bin f
    silod=$(bin silod)
    silo=$(bin silo)
    # silod starts the silo-shim that sits next to it.
    [[ -x $(dirname "$silod")/silo-shim ]] || { say "no silo-shim next to $silod"; exit 1; }
    echo "{}" >"$work/daemon.json" # not /etc/silo/daemon.json: this silod is the script's alone
    # A short data root: every container's shim sockets (<root>/c/<64-hex id>/attach.sock) must
    # fit in sun_path's 108 bytes.
    local args=(--config-file "$work/daemon.json" --data-root "$work/s" -H "unix://$ssock"
        --pidfile "$work/silod.pid" --insecure-registry "$addr" "$@")
    silo_init_note="silod default (no --init-path)"
    if "$silod" --help 2>/dev/null | grep -q -- --init-path; then
        init_bin=$(bin silo-init optional)
        for f in "$(dirname "$silod")/silo-init" "$repo/target/init/release/silo-init"; do
            [[ -n $init_bin || ! -x $f ]] || init_bin=$f
        done
        if [[ -n $init_bin ]]; then
            args+=(--init-path "$init_bin")
            silo_init_note="--init-path $init_bin"
        else
            say "silod has --init-path but no silo-init binary was found (scripts/build-init.sh)"
            silo_init_note="silod has --init-path but no silo-init was found"
        fi
    fi
    "$silod" "${args[@]}" >>"$work/silod.log" 2>&1 </dev/null &
    pids+=($!)
    wait_for silod curl -fsS --unix-socket "$ssock" http://localhost/_ping
    SILO_HOST=unix://$ssock "$silo" pull "$image" >/dev/null
}

# silod creates its default network's bridge and nftables table (`silo_<bridge>`) when it
# starts; each bench script gives its silods a bridge of their own and removes it on exit.
check_silo_net() { # check_silo_net BRIDGE: refuses a bridge or table that exists (another run's)
    if ip link show "$1" >/dev/null 2>&1 || nft list table ip "silo_$1" >/dev/null 2>&1; then
        say "bridge $1 or nftables table ip silo_$1 exists: another $bench_name running? (or remove them)"
        exit 1
    fi
}
remove_silo_net() { # remove_silo_net BRIDGE
    ip link show "$1" >/dev/null 2>&1 && ip link del "$1"
    nft list table ip "silo_$1" >/dev/null 2>&1 && nft delete table ip "silo_$1"
    true
}

start_containerd() { # containerd with its own root, state and sockets
    mkdir -p "$work/containerd"
    cat >"$work/containerd/config.toml" <<TOML
version = 2
root = "$work/containerd/root"
state = "$work/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$work/containerd/containerd.sock"
[ttrpc]
  address = "$work/containerd/containerd.sock.ttrpc"
[debug]
  address = "$work/containerd/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/containerd/opt"
TOML
    containerd --config "$work/containerd/config.toml" --log-level warn \
        >>"$work/containerd.log" 2>&1 </dev/null &
    containerd_pid=$!
    pids+=("$containerd_pid")
    wait_for containerd test -S "$work/containerd/containerd.sock"
}

start_dockerd() { # start_dockerd [DOCKERD ARGS...]: on start_containerd's, with the image pulled
    dockerd --data-root "$work/docker-root" --exec-root "$work/docker-exec" \
        --pidfile "$work/dockerd.pid" -H "unix://$dsock" \
        --containerd "$work/containerd/containerd.sock" --insecure-registry "$addr" \
        --log-level warn "$@" >>"$work/dockerd.log" 2>&1 </dev/null &
    dockerd_pid=$!
    pids+=("$dockerd_pid")
    wait_for dockerd curl -fsS --unix-socket "$dsock" http://localhost/_ping
    DOCKER_HOST=unix://$dsock $docker_cli pull -q "$image" >/dev/null
}

pull_podman() { run_sh "podman $pflags pull -q --tls-verify=false $image" >/dev/null; }

# engine.sh ENGINE VERB: the untimed set-up and clean-up steps, and the bulk phases, in one place.
write_engine_sh() {
    cat >"$work/engine.sh" <<SH
#!/usr/bin/env bash
# engine.sh silo|docker|podman clean|run50|rm50
set -uo pipefail
case \$1 in
    silo) cli=(env DOCKER_HOST=unix://$ssock $docker_cli) ;;
    docker) cli=(env DOCKER_HOST=unix://$dsock $docker_cli) ;;
    podman) cli=(podman $pflags) ;; # run it with run_sh (in the mount namespace, if any)
esac
ids=$work/bulk-ids.\$1
# podman's rm -f first stops with the 10 s timeout (sleep as PID 1 ignores SIGTERM); docker's
# kills at once. -t 0 makes podman remove the way docker does.
rmt=
[[ \$1 != podman ]] || rmt="-t 0"
case \$2 in
    clean) # remove every container (not timed)
        mapfile -t all < <("\${cli[@]}" ps -aq 2>/dev/null)
        ((\${#all[@]} == 0)) || "\${cli[@]}" rm -f \${rmt:-} "\${all[@]}" >/dev/null 2>&1
        rm -f "\$ids"
        exit 0 ;;
    run50) # 50 x run -d, sequentially, as a user's loop would
        : >"\$ids"
        for i in \$(seq 1 50); do
            "\${cli[@]}" run -d --network none $image sleep 1000 >>"\$ids" || exit 1
        done ;;
    rm50) # rm -f of the 50, in one command
        [[ \$(wc -l <"\$ids") -eq 50 ]] || { echo "expected 50 ids in \$ids" >&2; exit 1; }
        xargs "\${cli[@]}" rm -f \${rmt:-} <"\$ids" >/dev/null ;;
esac
SH
    chmod +x "$work/engine.sh"
}

clean_engines() { # remove every container of this run's engines
    [[ -S $ssock ]] && timeout 60 "$work/engine.sh" silo clean
    ((have_docker)) && timeout 60 "$work/engine.sh" docker clean
    ((have_podman)) && timeout 60 "${in_ns[@]}" "$work/engine.sh" podman clean
    true
}

stop_engines() { # stop the daemons and every process of ours, kill what supervisors are left
    local pid f sup
    for f in silod.pid dockerd.pid; do
        [[ -f $work/$f ]] && stop_pid "$(cat "$work/$f")"
    done
    for pid in "${pids[@]}"; do
        stop_pid "$pid"
    done
    # Whatever supervisors are left (a daemon that did not clean up): their containers first.
    sup=$(for f in silo-shim containerd-shim conmon; do our_procs "$f"; done)
    if [[ -n $sup ]]; then
        # shellcheck disable=SC2086,SC2046
        kill -9 $(descendants $sup) $sup 2>/dev/null
        sleep 0.5
    fi
    true
}

remove_work() { # unmount and delete $work, keeping the logs in $out/<script>-logs
    local logs=$out/${bench_name%.sh}-logs
    grep -o " ${work}[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$logs"
    mkdir -p "$logs"
    cp "$work"/*.log "$logs/" 2>/dev/null
    cp "$work/registry/log" "$logs/registry.log" 2>/dev/null
    rm -rf "$work"
}

# --- timing: hyperfine runs with an untimed probe per command ---------------------------------
# results.tsv ($results): section, key, label, median s, mean s, stddev s, status ("ok",
# "failed: why", "k/N runs failed"). A command that fails its probe is not timed.
names=() labels=() prepares=() commands=()
add() { # add KEY LABEL PREPARE COMMAND
    names+=("$1")
    labels+=("$2")
    prepares+=("$3")
    commands+=("$4")
}
reason() { # last meaningful line of a log, safe in a markdown cell
    local line
    line=$(grep -i 'error' "$1" | tail -n1) || true
    [[ -n $line ]] || line=$(grep -v '^\s*$' "$1" | tail -n1) || true
    printf '%s' "$line" | tr '\t' ' ' | cut -c1-160 | sed 's/|/\\|/g'
}
bench() { # bench SECTION WARMUP RUNS: time what add() collected, in one hyperfine run
    local section=$1 warmup=$2 nruns=$3 i
    local keys=() args=() log json=$out/${bench_name%.sh}-$1.json
    args=(--runs "$nruns" --warmup "$warmup" --ignore-failure --export-json "$json"
        --shell "${in_ns[*]:+${in_ns[*]} }sh")
    for i in "${!names[@]}"; do
        # Probe: prepare and run once, untimed; a command that fails here is reported, not timed.
        log=$work/probe-$section-${names[$i]}.log
        if ! timeout 120 "${in_ns[@]}" sh -c "${prepares[$i]}" >"$log" 2>&1; then
            say "$section/${names[$i]}: prepare failed: $(reason "$log")"
            printf '%s\t%s\t%s\t-\t-\t-\tfailed (prepare): %s\n' "$section" "${names[$i]}" "${labels[$i]}" "$(reason "$log")" >>"$results"
        elif ! timeout 120 "${in_ns[@]}" sh -c "${commands[$i]}" >"$log" 2>&1; then
            say "$section/${names[$i]}: failed: $(reason "$log")"
            printf '%s\t%s\t%s\t-\t-\t-\tfailed: %s\n' "$section" "${names[$i]}" "${labels[$i]}" "$(reason "$log")" >>"$results"
        else
            keys+=("$i")
        fi
    done
    if ((${#keys[@]})); then
        for i in "${keys[@]}"; do args+=(--prepare "${prepares[$i]}"); done
        for i in "${keys[@]}"; do args+=(-n "${names[$i]}" "${commands[$i]}"); done
        if hyperfine "${args[@]}"; then
            for i in "${keys[@]}"; do
                jq -r --arg n "${names[$i]}" --arg l "${labels[$i]}" --arg s "$section" '
                    .results[] | select(.command == $n)
                    | ([.exit_codes[] | select(. != 0)] | length) as $bad
                    | [$s, $n, $l, .median, .mean, (.stddev // 0),
                       (if $bad == 0 then "ok" else "\($bad)/\(.exit_codes | length) runs failed" end)]
                    | @tsv' "$json" >>"$results"
            done
        else
            for i in "${keys[@]}"; do
                printf '%s\t%s\t%s\t-\t-\t-\tfailed: hyperfine aborted (a prepare step failed)\n' "$section" "${names[$i]}" "${labels[$i]}" >>"$results"
            done
        fi
    fi
    names=() labels=() prepares=() commands=()
}
fmt_time() { awk -v t="$1" 'BEGIN { if (t == "") print ""; else if (t < 1) printf "%.1f ms", t * 1000; else printf "%.2f s", t }'; }
ratio() { # ratio A B
    [[ -n $1 && -n $2 ]] || { echo ""; return; }
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf (a / b < 0.1 ? "%.4f" : "%.2f"), a / b }'
}
