# shellcheck shell=bash
# Helpers shared by the bench scripts; sourced, not run. Callers set `work` (their temp dir)
# and the `pids` array (processes their cleanup kills) before calling start_registry.

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
