# shellcheck shell=bash
# Sourced by the other scripts: puts a Rust toolchain on PATH.
# rustup's toolchain (~/.cargo/bin) wins over Debian's cargo when both exist, because the
# workspace needs a newer rustc than Debian 12 ships.
if [[ -d "${CARGO_HOME:-$HOME/.cargo}/bin" ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
