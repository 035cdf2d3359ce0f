"""debian_image's package lock. `bazel run @<name>//:lock` resolves the packages against the
signed archive (here the test caches' file:// copy of its index, through
RULES_SEMATIC_DEBIAN_MIRROR) and reproduces rules_sematic's own locks byte for byte; a fetch
downloads every .deb of the lock by sha256 through Bazel's downloader (here from the test
repository cache: every other host is blocked) and unpacks it without apt; a lock that is
missing, stale or made from other inputs, and an archive whose signature or index does not
verify, are refused with one line naming the fix. One scratch consumer workspace (bzlmod)."""

import json
import shutil
import pytest

from harness import offline
from harness.bazel import REPO, Bazel, consumer_module
from harness.containers import runc_run, unpack

# Uses 127.0.0.1:5000 or this checkout's Bazel server (tests/harness/pipeline_fixtures.py).
pytestmark = pytest.mark.checkout

# images/<base>.lock.json -> its lock, for rules_sematic's three Debian bases.
LOCKS = {path.name[: -len(".lock.json")]: json.loads(path.read_text())
         for path in sorted((REPO / "images").glob("*.lock.json"))}
BOOKWORM = REPO / "images" / "rules_sematic_python3.lock.json"


def image(name, lock, **attributes):
    """A sematic.debian_image tag with the inputs of `lock` (a parsed lock), overridden by `attributes`."""
    values = {"packages": lock["packages"], "suite": lock["suite"], "lock": f"//:{name}.lock.json", **attributes}
    arguments = ", ".join(f"{key} = {json.dumps(value)}" for key, value in sorted(values.items()))
    return f"sematic.debian_image(name = {json.dumps(name)}, {arguments})\n"


def copy_of(base):
    """The scratch workspace's debian_image with the inputs of rules_sematic's `base`."""
    return base.replace("rules_sematic_", "copy_of_")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    root = tmp_path_factory.mktemp("debian-lock")
    bookworm = LOCKS["rules_sematic_python3"]
    tags = "".join(image(copy_of(base), lock) for base, lock in LOCKS.items())
    tags += image("checked", bookworm) + image("unlocked", bookworm) + image("changed", bookworm, packages=["dash"])
    tags += image("no_keyring", bookworm, keyring="/nonexistent/keyring.gpg")
    # rules_sematic_python3: rules_sematic's own base, whose lock is in rules_sematic.
    repositories = [*map(copy_of, LOCKS), "checked", "unlocked", "changed", "no_keyring", "rules_sematic_python3"]
    (root / "MODULE.bazel").write_text(consumer_module("debian_lock", tags, repositories, python_toolchain=False))
    (root / "WORKSPACE.bzlmod").write_text("")
    (root / "BUILD.bazel").write_text("")
    for name in ("checked", "changed"):
        shutil.copyfile(BOOKWORM, root / f"{name}.lock.json")
    bazel = Bazel(root)
    yield bazel
    bazel.shutdown()


def lock_command(scratch, name, *args, mirror=None):
    """`bazel run @<name>//:lock -- args` reading the archive at `mirror` (default: the test
    caches' copy); returns (exit code, the one line the command printed)."""
    env = {"RULES_SEMATIC_DEBIAN_MIRROR": (mirror or offline.debian_mirror()).as_uri()}
    result = scratch.run("run", "--noshow_progress", f"@{name}//:lock", *(["--", *args] if args else []),
                         check=False, env=env)
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"debian_image({name}):")]
    assert len(lines) == 1, result.stderr[-3000:]
    return result.returncode, lines[0]


def fetch_error(scratch, name):
    """The one-line message of a failed fetch of `@<name>//image` (Bazel may repeat it)."""
    result = scratch.run("build", "--nobuild", f"@{name}//image", check=False)
    assert result.returncode != 0
    prefix = f"debian_image({name}):"
    messages = {line[line.index(prefix):] for line in result.stderr.splitlines() if prefix in line}
    assert len(messages) == 1, result.stderr[-3000:]
    return messages.pop()


@pytest.mark.parametrize("base", sorted(LOCKS))
def test_lock_command_reproduces_the_checked_in_lock(scratch, base):
    name = copy_of(base)
    code, line = lock_command(scratch, name)
    assert code == 0, line
    lock = LOCKS[base]
    counts = ", ".join(f"{len(lock['resolved'][arch])} packages for {arch}" for arch in lock["architectures"])
    assert line == f"debian_image({name}): wrote //:{name}.lock.json: {counts}"
    assert (scratch.workspace / f"{name}.lock.json").read_bytes() == (REPO / "images" / f"{base}.lock.json").read_bytes()


def test_check_passes_then_fails_on_a_lock_edited_by_hand(scratch):
    path = scratch.workspace / "checked.lock.json"
    assert lock_command(scratch, "checked", "--check") == (
        0, "debian_image(checked): //:checked.lock.json is up to date")
    edited = path.read_text().replace('"name": "dash", ', '"name": "dash", "extra": 1, ', 1)
    path.write_text(edited)
    assert lock_command(scratch, "checked", "--check") == (
        1, "debian_image(checked): //:checked.lock.json is out of date (the archive or the inputs changed, or it was "
           "edited): run `bazel run @checked//:lock`")
    assert path.read_text() == edited, "--check wrote the lock"


def test_missing_lock_is_named_then_written_and_fetched_offline(scratch):
    assert fetch_error(scratch, "unlocked") == (
        "debian_image(unlocked): lock //:unlocked.lock.json does not exist: run `bazel run @unlocked//:lock` to "
        "write it")
    assert lock_command(scratch, "unlocked")[0] == 0
    assert (scratch.workspace / "unlocked.lock.json").read_bytes() == BOOKWORM.read_bytes()
    # Every .deb comes from the repository cache, by sha256: no other host is reachable.
    result = scratch.run("build", "--nobuild", "@unlocked//image", check=False)
    assert result.returncode == 0, result.stderr[-3000:]


def test_packages_that_differ_from_the_lock(scratch):
    assert fetch_error(scratch, "changed") == (
        "debian_image(changed): lock //:changed.lock.json was made for other packages than the debian_image's: "
        "run `bazel run @changed//:lock` to update it")


@pytest.mark.parametrize("tamper, message", [
    ("packages", "main/binary-amd64/Packages.xz does not match the sha256 of the signed Release file: the mirror "
                 "is being updated or serves altered files: run again later, or use another mirror"),
    ("inrelease", "InRelease: the signature does not verify against /usr/share/keyrings/debian-archive-keyring.gpg "
                  "(gpgv: BAD signature from"),
])
def test_an_archive_that_does_not_verify_is_refused(scratch, tmp_path, tamper, message):
    suite = tmp_path / "mirror" / "dists" / "bookworm"
    shutil.copytree(offline.debian_mirror() / "dists" / "bookworm", suite)
    if tamper == "packages":
        with open(suite / "main" / "binary-amd64" / "Packages.xz", "ab") as packages:
            packages.write(b"\0")
    else:
        # A changed value (trailing blanks would not do: OpenPGP's cleartext form ignores them).
        text = (suite / "InRelease").read_text()
        (suite / "InRelease").write_text(text.replace("\nLabel: Debian\n", "\nLabel: Debain\n", 1))
    before = (scratch.workspace / "checked.lock.json").read_bytes()
    code, line = lock_command(scratch, "checked", mirror=tmp_path / "mirror")
    assert code == 1
    assert message in line, line
    assert (scratch.workspace / "checked.lock.json").read_bytes() == before


def test_missing_keyring(scratch):
    assert lock_command(scratch, "no_keyring") == (
        1, "debian_image(no_keyring): keyring /nonexistent/keyring.gpg not found: install it (apt-get install "
           "debian-archive-keyring) or set keyring")


def test_lock_of_another_repository_is_not_written(scratch):
    code, line = lock_command(scratch, "rules_sematic_python3")
    assert code == 1
    assert line == ("debian_image(rules_sematic_python3): lock @@rules_sematic~//images:rules_sematic_python3.lock.json "
                    "is outside the main repository: run `bazel run @rules_sematic_python3//:lock` in the workspace of "
                    "the repository that holds it")


def test_bookworm_base_runs_its_python_under_runc(tmp_path):
    """//images:python3 from its lock: Python 3.11 with ssl, sqlite3 and distutils."""
    layout, _ = Bazel(REPO).image("//images:python3")
    bundle = unpack(layout, "latest", tmp_path / "bundle")
    code = "import ssl, sqlite3, distutils.core, sys; print('%d.%d' % sys.version_info[:2], ssl.OPENSSL_VERSION.split()[0])"
    result = runc_run(bundle, ["/usr/bin/python3", "-c", code])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["3.11", "OpenSSL"], result.stdout
