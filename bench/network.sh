#!/usr/bin/env bash
# Network benchmark: what silo's network service costs, against docker and podman (with
# --with-peers) in one run, on the same machine, from the same busybox image, as ratios.
# See bench/README.md.
#
# Usage: bench/network.sh [--runs N] [--with-peers] [--install-peers] [--out DIR]
#   --runs N          timed runs per command, and TCP transfers per row (default 10)
#   --with-peers      also measure docker (dockerd + containerd started here) and podman
#   --install-peers   apt-get install docker.io / podman if missing (implies --with-peers)
#   --out DIR         where network-*.json / network.md go (default bench/results)
# 1. `run --rm IMAGE true` on the engine's default network against `--network none`: the time
#    the network adds (difference of the hyperfine means), per engine.
# 2. TCP throughput host -> container through a port published on 127.0.0.1 (busybox nc in the
#    container, a python3 sender on the host): median MB/s per engine; docker with its default
#    userland proxy and again with --userland-proxy=false.
# Only loopback receives traffic: every port is published on 127.0.0.1. silod runs with its own
# bridge sbench0 (10.250.0.0/24), podman's default network gets 10.251.0.0/24 and a private
# config dir, dockerd gets its default docker0. On exit everything they added to the host
# (bridges, nftables tables, iptables chains and rules, sysctls) is removed or reset.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

runs=10
with_peers=0
install_peers=0
out=bench/results
cmdline="bench/network.sh $*"
while (($#)); do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --with-peers) with_peers=1; shift ;;
        --install-peers) with_peers=1; install_peers=1; shift ;;
        --out) out=$2; shift 2 ;;
        -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "network.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"

silod=$(bin silod)
bin silo >/dev/null
bin silo-fixtures >/dev/null
[[ -x $(dirname "$silod")/silo-shim ]] || { say "no silo-shim next to $silod"; exit 1; }
if ((install_peers)); then
    missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v podman >/dev/null || missing+=(podman)
    if ((${#missing[@]})); then
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
    fi
fi
for tool in docker-registry hyperfine curl jq python3 nft ip iptables-nft ip6tables-nft busybox; do
    command -v "$tool" >/dev/null || { say "$tool missing (scripts/setup.sh)"; exit 1; }
done

bridge=sbench0 # silod's default network: its bridge, subnet and nftables table
bip=10.250.0.1/24
table=silo_$bridge
podman_subnet=10.251.0.0/24
bytes=$((512 * 1024 * 1024)) # per TCP transfer

# A short temp dir: silod's data root is under it, and its sockets must fit in sun_path.
work=$(mktemp -d /tmp/snb.XXXXXX)
chmod 755 "$work"
engine_env
cat >>"$CONTAINERS_CONF" <<TOML
[network]
network_backend = "netavark"
network_config_dir = "$work/podman-net"
default_subnet = "$podman_subnet"
TOML
ns=
in_ns=()
have_docker=0
have_podman=0
pids=()
silo_nets=()

# --- the host as found, and back ---------------------------------------------------------------
ipts=(iptables-nft ip6tables-nft)
tables=(filter nat mangle raw)
sysctls=(net/ipv4/ip_forward net/bridge/bridge-nf-call-iptables net/bridge/bridge-nf-call-ip6tables)
snapshot() { # snapshot NAME: links, nftables tables, iptables rules, sysctls into $work/host-NAME.*
    local ipt t s
    ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort >"$work/host-$1.links"
    nft list tables | sort >"$work/host-$1.tables"
    for ipt in "${ipts[@]}"; do
        for t in "${tables[@]}"; do
            "$ipt" -t "$t" -S 2>/dev/null | sed "s/^/$ipt $t /"
        done
    done >"$work/host-$1.rules"
    for s in "${sysctls[@]}"; do
        echo "$s $(cat "/proc/sys/$s" 2>/dev/null)"
    done >"$work/host-$1.sysctls"
}
# Our chains (docker's, netavark's, CNI's) and the rules in other chains that name our objects.
ours_chain='^(DOCKER|NETAVARK|CNI-)'
ours_rule="DOCKER|NETAVARK|CNI-|docker0|podman0|$bridge|172\\.17\\.|${podman_subnet%.0/24}\\."
restore_host() {
    local l ipt t line chain rest fam policy
    snapshot after
    # Links: the bridges of silod, dockerd and podman that were not there before.
    for l in "$bridge" docker0 podman0 "${silo_nets[@]}"; do
        grep -qx "$l" "$work/host-before.links" && continue
        ip link show "$l" >/dev/null 2>&1 && ip link del "$l" && say "deleted link $l"
    done
    # silod's nftables table.
    if ! grep -qx "table ip $table" "$work/host-before.tables" && nft list table ip "$table" >/dev/null 2>&1; then
        nft delete table ip "$table" && say "deleted nftables table ip $table"
    fi
    # iptables: rules added to chains that were there, then the chains that were not.
    while read -r ipt t line; do
        grep -qxF "$ipt $t $line" "$work/host-before.rules" && continue
        case $line in
            "-P "*)
                read -r _ chain _ <<<"$line"
                policy=$(awk -v p="$ipt $t -P $chain" 'index($0, p " ") == 1 { print $NF }' "$work/host-before.rules")
                [[ -n $policy ]] && "$ipt" -t "$t" -P "$chain" "$policy" && say "$ipt -t $t -P $chain $policy"
                ;;
            "-A "*)
                rest=${line#-A }
                chain=${rest%% *}
                [[ $chain =~ $ours_chain ]] && ! grep -qxF "$ipt $t -N $chain" "$work/host-before.rules" && continue
                [[ $line =~ $ours_rule ]] || continue
                xargs "$ipt" -t "$t" -D <<<"$rest" && say "$ipt -t $t -D $rest"
                ;;
        esac
    done <"$work/host-after.rules"
    for pass in F X; do
        while read -r ipt t line; do
            chain=${line#-N }
            [[ $line == "-N "* && $chain =~ $ours_chain ]] || continue
            grep -qxF "$ipt $t $line" "$work/host-before.rules" && continue
            "$ipt" -t "$t" "-$pass" "$chain" && [[ $pass == X ]] && say "$ipt -t $t -X $chain"
        done <"$work/host-after.rules"
    done
    # iptables-nft's own tables, when they are new and now empty (no rule, no drop policy).
    for fam in ip ip6; do
        for t in "${tables[@]}"; do
            grep -qx "table $fam $t" "$work/host-before.tables" && continue
            nft list table "$fam" "$t" >/dev/null 2>&1 || continue
            if [[ $(nft -j list table "$fam" "$t" | jq '[.nftables[] | select(.rule or .chain.policy == "drop")] | length') == 0 ]]; then
                nft delete table "$fam" "$t" && say "deleted empty nftables table $fam $t (iptables-nft's)"
            fi
        done
    done
    # Sysctls back to their values.
    while read -r s v; do
        [[ -n $v && -w /proc/sys/$s && $(cat "/proc/sys/$s") != "$v" ]] || continue
        echo "$v" >"/proc/sys/$s" && say "$s reset to $v"
    done <"$work/host-before.sysctls"
    # What is still different, for the log.
    snapshot final
    for l in links tables rules sysctls; do
        if ! diff -q "$work/host-before.$l" "$work/host-final.$l" >/dev/null; then
            say "the host's $l differ from before the run (another program, or left by us):"
            diff "$work/host-before.$l" "$work/host-final.$l" | grep '^[<>]' | head -n 20 >&2
        fi
    done
}

cleanup() {
    set +e
    say "cleaning up $work"
    clean_engines
    if [[ -S $ssock ]]; then # the bridges of silod's networks (sl- and ten hex digits of the id)
        for id in $(DOCKER_HOST=unix://$ssock timeout 10 "$docker_cli" network ls -q --no-trunc 2>/dev/null); do
            silo_nets+=("sl-${id:0:10}")
        done
    fi
    stop_engines
    [[ -f $work/host-before.rules ]] && restore_host
    remove_work
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check_silo_net "$bridge"
snapshot before
cgroup_ns

# --- registry, image, engines -------------------------------------------------------------------
start_registry
push_busybox
write_engine_sh
start_silod --bridge "$bridge" --bip "$bip" --exec-root "$work/x"
dockerd_note="not run"
podman_note="not run"
if ((with_peers)); then
    if ! command -v dockerd >/dev/null || ! command -v containerd >/dev/null; then
        say "dockerd/containerd not installed; skipping docker (use --install-peers)"
        dockerd_note="not installed"
    elif grep -qx docker0 "$work/host-before.links"; then
        say "docker0 exists (another dockerd?): skipping docker"
        dockerd_note="skipped: docker0 already exists"
    else
        # dockerd with its defaults (bridge docker0, iptables, userland proxy) but its own
        # data root, exec root, socket and containerd.
        start_containerd
        start_dockerd
        have_docker=1
        dockerd_note="dockerd $(dockerd --version | sed 's/Docker version //; s/,.*//'), default bridge docker0"
    fi
    if ! command -v podman >/dev/null; then
        say "podman not installed; skipping podman (use --install-peers)"
        podman_note="not installed"
    elif grep -qx podman0 "$work/host-before.links"; then
        say "podman0 exists (another podman?): skipping podman"
        podman_note="skipped: podman0 already exists"
    else
        pull_podman
        have_podman=1
        podman_note="podman $(podman --version | awk '{print $3}'), netavark, default network on podman0 with $podman_subnet"
    fi
fi
engines=(silo)
((have_docker)) && engines+=(docker)
((have_podman)) && engines+=(podman)
cli_of() {
    case $1 in
        silo) echo "DOCKER_HOST=unix://$ssock $docker_cli" ;;
        docker) echo "DOCKER_HOST=unix://$dsock $docker_cli" ;;
        podman) echo "podman $pflags" ;;
    esac
}
label_of() {
    case $1 in
        silo) echo "silo (docker CLI)" ;;
        docker) echo "docker" ;;
        podman) echo "podman" ;;
    esac
}
clean_all() {
    local e
    for e in "${engines[@]}"; do
        run_sh "$work/engine.sh $e clean"
    done
}

results=$work/results.tsv
: >"$results"

# What each engine's default network gives the container (not timed): its addresses.
addrs=$work/addresses.tsv
: >"$addrs"
for e in "${engines[@]}"; do
    a=$(run_sh "$(cli_of "$e") run --rm $image ip -o -4 addr show" 2>&1 | awk '$2 != "lo" { printf "%s%s %s", sep, $2, $4; sep = ", " }') || true
    echo -e "$e\t${a:-none? (see the logs)}" >>"$addrs"
done

# 1. run --rm: default network against --network none --------------------------------------------
say "1/2 run --rm $image true: default network and --network none"
for e in "${engines[@]}"; do
    add "$e-net" "$(label_of "$e"), default network" true "$(cli_of "$e") run --rm $image true"
    add "$e-none" "$(label_of "$e"), --network none" true "$(cli_of "$e") run --rm --network none $image true"
done
bench run 1 "$runs"
clean_all

# 2. TCP throughput through a port published on 127.0.0.1 --------------------------------------
say "2/2 TCP host -> container, $((bytes / 1024 / 1024)) MiB per transfer"
# The sender: connect, send, half-close, wait for the receiver's close; prints MB/s and seconds.
# A transfer that fails (the listener between two connections, or a proxy whose backend
# refused) is retried.
cat >"$work/send.py" <<'PY'
import socket, sys, time
port, total = int(sys.argv[1]), int(sys.argv[2])
buf = memoryview(bytes(1 << 20))
last = None
for attempt in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        t0 = time.perf_counter()
        left = total
        while left > 0:
            left -= s.send(buf[:min(left, len(buf))])
        s.shutdown(socket.SHUT_WR)
        if s.recv(1) != b"":
            raise OSError("unexpected data from the receiver")
        dt = time.perf_counter() - t0
        s.close()
        print(f"{total / dt / 1e6:.1f} {dt:.4f} {attempt}")
        sys.exit(0)
    except OSError as e:
        last = e
        time.sleep(0.1)
sys.exit(f"send.py: 100 attempts failed, last: {last}")
PY
listen="sh -c 'while :; do nc -l -p 5001 >/dev/null; done'"
tcp_send() { # tcp_send KEY PORT BYTES: one transfer; prints "MB/s seconds retries"
    if [[ $1 == host ]]; then
        # The ceiling: the same busybox nc (Debian's busybox-static, as in the image) on plain
        # loopback, no container, no NAT; in a network namespace of its own, so that nothing
        # listens on the host's other addresses.
        unshare --net sh -c "ip link set lo up && { timeout 120 busybox nc -l -p 5001 >/dev/null & } && exec python3 $work/send.py 5001 $3"
    else
        python3 "$work/send.py" "$2" "$3"
    fi
}
tcp=$work/tcp.tsv # key, label, MB/s
: >"$tcp"
tcp_keys=() tcp_ports=()
tcp_target() { # tcp_target KEY LABEL ENGINE|host: a receiver on a free port
    local key=$1 label=$2 e=$3 port log=$work/tcp-target-$1.log
    port=$(free_port)
    if [[ $e != host ]] && ! run_sh "$(cli_of "$e") run -d --name snb-tcp -p 127.0.0.1:$port:5001 $image $listen" >"$log" 2>&1; then
        say "$label: the receiver did not start: $(reason "$log")"
        echo -e "$key\t$label\tfailed: $(reason "$log")" >>"$tcp"
        return 0
    fi
    if ! tcp_send "$key" "$port" $((64 * 1024 * 1024)) >>"$log" 2>&1; then # warm-up
        say "$label: warm-up transfer failed: $(reason "$log")"
        echo -e "$key\t$label\tfailed: $(reason "$log")" >>"$tcp"
        return 0
    fi
    tcp_keys+=("$key")
    tcp_labels[$key]=$label
    tcp_ports+=("$port")
}
declare -A tcp_labels=()
tcp_rounds() { # the targets in turn, --runs rounds, so drift hits them alike
    local r i key line
    for r in $(seq 1 "$runs"); do
        for i in "${!tcp_keys[@]}"; do
            key=${tcp_keys[$i]}
            sleep 0.3 # the listener's loop starts its next nc
            if line=$(tcp_send "$key" "${tcp_ports[$i]}" "$bytes" 2>>"$work/tcp-target-$key.log"); then
                echo -e "$key\t${tcp_labels[$key]}\t${line%% *}" >>"$tcp"
                say "tcp $key round $r: ${line%% *} MB/s"
            else
                echo -e "$key\t${tcp_labels[$key]}\tfailed: $(reason "$work/tcp-target-$key.log")" >>"$tcp"
            fi
        done
    done
    tcp_keys=() tcp_ports=()
}
tcp_target silo "silo: nftables DNAT, no proxy" silo
((have_docker)) && tcp_target docker "docker: userland proxy (its default)" docker
((have_podman)) && tcp_target podman "podman: netavark DNAT" podman
tcp_target host "host loopback, no container (busybox nc's ceiling)" host
tcp_rounds
clean_all
if ((have_docker)); then
    say "restarting dockerd with --userland-proxy=false"
    stop_pid "$dockerd_pid"
    start_dockerd --userland-proxy=false
    tcp_target silo-b "silo, beside docker without proxy" silo
    tcp_target docker-noproxy "docker --userland-proxy=false: iptables DNAT" docker
    tcp_rounds
    clean_all
fi

# --- report ---------------------------------------------------------------------------------------
jq -Rn --argjson bytes "$bytes" '
    [inputs | split("\t") | {key: .[0], label: .[1], value: .[2]}]
    | group_by(.key)
    | sort_by(.[0].key as $k | ["silo", "docker", "podman", "host", "silo-b", "docker-noproxy"] | index($k) // 99)
    | map({key: .[0].key, label: .[0].label,
           mbps: [.[] | .value | tonumber? // empty],
           failures: [.[] | select(.value | startswith("failed")) | .value]})
    | map(. + {median: (.mbps | sort | if length == 0 then null
               elif length % 2 == 1 then .[length / 2 | floor]
               else (.[length / 2 - 1] + .[length / 2]) / 2 end)})
    | {bytes_per_transfer: $bytes, results: .}' <"$tcp" >"$out/network-tcp.json"

md=$out/network.md
field() { awk -F'\t' -v k="$1" -v f="$2" '$1 == "run" && $2 == k && $7 == "ok" { print $f }' "$results"; }
run_json=$out/network-run.json
nruns() { [[ -f $run_json ]] && jq -r --arg n "$1" '.results[] | select(.command == $n) | .times | length' "$run_json"; }
added() { # added ENGINE: "diff_s sigma_s" of the means (default network - none), or nothing
    local mn sn mo so nn no
    mn=$(field "$1-net" 5) sn=$(field "$1-net" 6) nn=$(nruns "$1-net")
    mo=$(field "$1-none" 5) so=$(field "$1-none" 6) no=$(nruns "$1-none")
    [[ -n $mn && -n $mo && -n $nn && -n $no ]] || return 0
    awk -v a="$mn" -v sa="$sn" -v na="$nn" -v b="$mo" -v sb="$so" -v nb="$no" \
        'BEGIN { printf "%.6f %.6f\n", a - b, sqrt(sa * sa / na + sb * sb / nb) }'
}
ms() { awk -v t="$1" 'BEGIN { printf "%+.1f ms", t * 1000 }'; }
tcp_median() { jq -r --arg k "$1" '.results[] | select(.key == $k) | .median // empty' "$out/network-tcp.json"; }
{
    echo "# silo network benchmark"
    echo
    echo "- run: \`$cmdline\` on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, kernel $(uname -r)"
    echo "- silo: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repo" diff --quiet 2>/dev/null || echo ' + uncommitted changes'), binaries $(dirname "$silod"); default network on bridge $bridge ($bip), nftables table ip $table; init: $silo_init_note"
    echo "- docker CLI $($docker_cli --version | sed 's/Docker version //; s/,.*//') drives silod and dockerd; docker: $dockerd_note; podman: $podman_note"
    echo "- image: \`$image\` (silo-fixtures busybox) in every engine; runs: $runs"
    echo
    echo "## 1. Time the default network adds to \`run --rm busybox true\`"
    echo
    echo "| engine | default network, mean ± σ | \`--network none\`, mean ± σ | added by the network (± std. error) | silo's added / engine's added |"
    echo "|---|---|---|---|---|"
    silo_add=$(added silo)
    for e in "${engines[@]}"; do
        a=$(added "$e")
        cells=""
        for k in net none; do
            st=$(awk -F'\t' -v k="$e-$k" '$1 == "run" && $2 == k { print $7 }' "$results")
            if [[ -n $(field "$e-$k" 5) ]]; then
                cells+="| $(fmt_time "$(field "$e-$k" 5)") ± $(fmt_time "$(field "$e-$k" 6)") "
            else
                cells+="| ${st:-not run} "
            fi
        done
        if [[ -n $a ]]; then
            r="—"
            # A ratio of two differences means something only when both are above zero; a
            # difference at or below zero is noise around "adds nothing".
            if [[ $e != silo && -n $silo_add ]] &&
                awk -v s="${silo_add%% *}" -v p="${a%% *}" 'BEGIN { exit !(s > 0 && p > 0) }'; then
                r="$(ratio "${silo_add%% *}" "${a%% *}")×"
            elif [[ $e != silo ]]; then
                r="— (a difference ≤ 0)"
            fi
            echo "| $(label_of "$e") $cells| $(ms "${a%% *}") ± $(fmt_time "${a##* }") | $r |"
        else
            echo "| $(label_of "$e") $cells| not measured | |"
        fi
    done
    echo
    if [[ -n $silo_add ]]; then
        echo "Goal: silo adds ≤ 10 ms — $(ms "${silo_add%% *}"): $(awk -v d="${silo_add%% *}" 'BEGIN { print (d <= 0.010 ? "**met**" : "**missed**") }')"
    else
        echo "Goal: silo adds ≤ 10 ms — not measured"
    fi
    echo
    echo "Container addresses on the default network (\`ip -o -4 addr\` in a container, untimed): $(awk -F'\t' '{ printf "%s%s: %s", sep, $1, $2; sep = "; " }' "$addrs")"
    echo
    echo "## 2. TCP throughput, host → container through a port published on 127.0.0.1"
    echo
    echo "$((bytes / 1024 / 1024)) MiB per transfer from a python3 sender on the host (1 MiB writes, then half-close and wait for the receiver's close) to \`nc -l -p 5001 >/dev/null\` (busybox) in the container; rows measured in turn, round by round; median of $runs."
    echo
    echo "| row | median MB/s | transfers | silo / row |"
    echo "|---|---|---|---|"
    silo_a=$(tcp_median silo)
    silo_b=$(tcp_median silo-b)
    # \x1f between fields: read would merge the tabs around an empty field.
    jq -r '.results[] | [.key, .label, (.median // "" | tostring), (.mbps | length | tostring), (.failures | length | tostring), (.failures[0] // "")] | join("\u001f")' \
        "$out/network-tcp.json" | while IFS=$'\x1f' read -r key label med n nf why; do
        base=$silo_a
        [[ $key == docker-noproxy ]] && base=$silo_b
        r="—"
        [[ $key == silo* || -z $med || -z $base ]] || r="$(ratio "$base" "$med")×"
        note=""
        ((nf == 0)) || note=" ($nf failed: $(printf '%s' "$why" | sed 's/|/\\|/g' | cut -c1-120))"
        [[ -z $med ]] || med=$(printf "%.0f" "$med")
        echo "| $label | ${med:-—} | $n$note | $r |"
    done
    echo
    echo "The docker --userland-proxy=false row is from a second dockerd started after the first rows; its ratio uses the silo row measured beside it."
    if grep -q failed "$results"; then
        echo
        echo "Failed rows: the probe (one untimed run before hyperfine) failed; all output: network-logs/probe-run-ROW.log."
    fi
} >"$md"

echo
cat "$md"
