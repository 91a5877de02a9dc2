#!/usr/bin/env bash
# README command 2: install test dependencies, then build, lint and test the whole workspace.
#
# Usage: scripts/test.sh
# Exits non-zero if any step fails; prints one summary line at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --deps-only
# shellcheck source=scripts/env.sh
source scripts/env.sh

results=()
failed=0

# step NAME CMD...: runs CMD, records the outcome, keeps going so one run shows every problem.
step() {
    local name=$1
    shift
    echo "==> $name: $*"
    if "$@"; then
        results+=("ok:$name")
    else
        results+=("FAILED:$name")
        failed=1
    fi
}

step build cargo build --workspace
# The static container init is its own workspace; target/debug/silod finds it in
# target/init/release, and container tests need it.
step build-init scripts/build-init.sh
build_ok=$((1 - failed))
step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
step fmt-init cargo fmt --manifest-path crates/init/Cargo.toml -- --check
step clippy-init cargo clippy --manifest-path crates/init/Cargo.toml --target-dir target/init --all-targets -- -D warnings

# Integration tests start target/debug/silod, so they only make sense after a good build.
if ((build_ok)); then
    if cargo nextest --version >/dev/null 2>&1; then
        step test cargo nextest run --workspace --no-fail-fast
    else
        step test cargo test --workspace --no-fail-fast
    fi
    step test-init cargo test --manifest-path crates/init/Cargo.toml --target-dir target/init
else
    results+=("skipped:test")
fi

echo
echo "test.sh: ${results[*]}"
exit "$failed"
