#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine (as root) to build, test and run silo. Idempotent.
#
# Usage: scripts/setup.sh             # packages + toolchain + release build + install
#        scripts/setup.sh --deps-only # packages + toolchain only (what scripts/test.sh uses)
set -euo pipefail
cd "$(dirname "$0")/.."

deps_only=0
case "${1:-}" in
    --deps-only) deps_only=1 ;;
    "") ;;
    -h | --help)
        sed -n '2,6p' "$0"
        exit 0
        ;;
    *)
        echo "setup.sh: unknown argument $1" >&2
        exit 2
        ;;
esac

packages=(
    build-essential pkg-config ca-certificates curl
    busybox-static docker-registry skopeo apache2-utils hyperfine debootstrap
    libseccomp-dev # silo-shim: libcontainer's seccomp feature links libseccomp
    # the network service: CNI plugins (bridge, macvlan, ipvlan, static), nftables, iproute2;
    # util-linux's nsenter for the network tests
    containernetworking-plugins nftables iproute2 util-linux
)

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

apt_install() {
    local missing=() p
    for p in "$@"; do
        installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]} > 0)); then
        echo "setup.sh: installing ${missing[*]}"
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    fi
}

if [[ $(id -u) -ne 0 ]]; then
    echo "setup.sh: run as root (apt-get, /usr/local/bin)" >&2
    exit 1
fi

apt_install "${packages[@]}"

# shellcheck source=scripts/env.sh
source scripts/env.sh
if ! command -v cargo >/dev/null 2>&1; then
    echo "setup.sh: no cargo on PATH; installing Debian's cargo and rustc"
    apt_install cargo rustc
fi
echo "setup.sh: $(cargo --version)"

if ((deps_only)); then
    exit 0
fi

cargo build --release --workspace
for bin in silod silo silo-shim silo-fixtures; do
    install -m 0755 "target/release/$bin" "/usr/local/bin/$bin"
done
echo "setup.sh: installed silod, silo, silo-shim, silo-fixtures into /usr/local/bin"
# The container init (Docker's --init, silo's default): static, bind-mounted into containers.
# silod looks beside itself, then in ../init/release (a repo build), then here.
init=$(scripts/build-init.sh)
install -D -m 0755 "$init" /usr/local/lib/silo/silo-init
echo "setup.sh: installed silo-init into /usr/local/lib/silo"
