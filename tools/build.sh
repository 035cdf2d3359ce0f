#!/usr/bin/env bash
# build.sh — compile rules_sematic's tools the one way the tools repository rule and the release
# both use, so that the same sources and toolchain give byte-identical binaries whatever the
# checkout path, HOME, CARGO_HOME, target directory or rustup location.
#
#   tools/build.sh CARGO TARGET_DIR OUT_DIR TOOL...
#
# Runs `cargo build --release --locked --bins` on the cargo workspace beside this script with
# TARGET_DIR as target directory, then copies each TOOL binary into OUT_DIR.
#
# What would otherwise differ between machines:
# * registry sources live under CARGO_HOME, build-script outputs under TARGET_DIR, the standard
#   library under the toolchain's sysroot: their absolute paths end up in panic locations and
#   C objects' debug strings. They are remapped to fixed names (rustc --remap-path-prefix, and
#   -ffile-prefix-map for the C code that zstd-sys and ring compile). Workspace crates need no
#   remapping: cargo hands rustc their paths relative to the workspace root.
# * RUSTFLAGS/CFLAGS from the caller's environment or cargo config would change code
#   generation: they are replaced, not extended.
set -euo pipefail

die() { printf 'tools/build.sh: error: %s\n' "$*" >&2; exit 1; }

[ $# -ge 4 ] || die "usage: tools/build.sh CARGO TARGET_DIR OUT_DIR TOOL..."
cargo=$1 target_dir=$2 out_dir=$3
shift 3
# The physical path: Bazel reaches this script through each output base's symlink to the
# checkout, and cargo keys its cache by the path it is given.
workspace=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
cargo_home=${CARGO_HOME:-$HOME/.cargo}

rustc=${RUSTC:-}
if [ -z "$rustc" ]; then
    # The rustc of the same toolchain as cargo: beside it (rustup proxy or toolchain bin/).
    rustc=$(dirname "$cargo")/rustc
    [ -x "$rustc" ] || rustc=rustc
fi
sysroot=$("$rustc" --print sysroot) || die "cannot run $rustc --print sysroot: is the Rust toolchain installed?"

mkdir -p "$target_dir"
absolute() { (cd "$1" && pwd -P); }
target_dir=$(absolute "$target_dir")
[ -d "$cargo_home" ] && cargo_home=$(absolute "$cargo_home")
sysroot=$(absolute "$sysroot")

# prefix=replacement pairs; rustc applies the last matching one, so the most specific comes last.
remaps=("$sysroot=/rust/sysroot" "$cargo_home=/cargo" "$target_dir=/target")
rustflags=() cflags=()
for remap in "${remaps[@]}"; do
    case $remap in *[[:space:]]*) die "path with whitespace in '$remap': the C compiler flags cannot carry it; use a CARGO_HOME, target directory and toolchain path without spaces" ;; esac
    rustflags+=("--remap-path-prefix=$remap")
    cflags+=("-ffile-prefix-map=$remap")
done

# CARGO_ENCODED_RUSTFLAGS (0x1f-separated) outranks RUSTFLAGS and every cargo config rustflags.
export CARGO_ENCODED_RUSTFLAGS
CARGO_ENCODED_RUSTFLAGS=$(IFS=$'\x1f'; printf '%s' "${rustflags[*]}")
export CFLAGS="${cflags[*]}" CXXFLAGS="${cflags[*]}"
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS TARGET_CFLAGS TARGET_CXXFLAGS
export CARGO_TERM_COLOR=never SOURCE_DATE_EPOCH=0

"$cargo" build --release --locked --bins --manifest-path "$workspace/Cargo.toml" --target-dir "$target_dir"

mkdir -p "$out_dir"
for tool; do
    # Copies, not links: the next build rewrites the target directory while the copies may be
    # in use.
    cp -f "$target_dir/release/$tool" "$out_dir/$tool"
done
