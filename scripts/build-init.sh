#!/usr/bin/env bash
# Builds silo-init, the minimal PID 1 put in containers (Docker's --init), as a static binary
# and prints its path: target/init/release/silo-init, where a silod built in target/*/ finds it.
#
# Usage: scripts/build-init.sh
#
# crates/init is its own cargo workspace (excluded from the root one), so the +crt-static
# flag applies to it alone. Static matters: the binary is bind-mounted into images that may
# have no libc (busybox) or another one (alpine's musl).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

out=target/init/release/silo-init
cargo rustc --quiet --manifest-path crates/init/Cargo.toml --release --target-dir target/init \
    --bin silo-init -- -C target-feature=+crt-static >&2

# A PT_INTERP program header would mean the loader (and a libc) must exist in the image.
if LC_ALL=C readelf -lW "$out" 2>/dev/null | grep -q 'INTERP'; then
    echo "build-init.sh: $out is not statically linked" >&2
    exit 1
fi
echo "$PWD/$out"
