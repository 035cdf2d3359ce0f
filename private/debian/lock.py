"""`bazel run @<name>//:lock`: writes the package lock of debian_image <name> (stdlib only).

    lock.py --config CONFIG.json [--check]

Reads the suite's InRelease (or Release and Release.gpg) from the mirror, verifies it with gpgv
against the keyring, reads main/binary-<arch>/Packages.xz for each architecture and checks it
against the sha256 the signed Release gives, resolves the packages' closure (resolve.py) and
writes the lock at its label's path under $BUILD_WORKSPACE_DIRECTORY, atomically. The lock is
canonical: the same archive state gives the same bytes, one package per line.

$RULES_SEMATIC_DEBIAN_MIRROR reads the archive from another place (e.g. a file:// copy) while
the lock still records the `mirror` attribute, from which builds download. Valid-Until is not
checked: a snapshot mirror's Release files are past it. `--check` writes nothing and exits 1 if
the lock differs from what would be written.
"""

import argparse
import hashlib
import json
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

import resolve

FORMAT = 1
MIRROR_ENV = "RULES_SEMATIC_DEBIAN_MIRROR"


class LockError(Exception):
    """Stops the command; the message is one line naming the thing and the fix."""


def fetch(url):
    """The bytes at `url` (http, https or file), or None if it does not exist."""
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise LockError(f"cannot download {url}: HTTP {error.code} {error.reason}: check the mirror") from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, FileNotFoundError):
            return None
        raise LockError(f"cannot download {url}: {error.reason}: check the mirror and the network") from error
    except OSError as error:
        raise LockError(f"cannot download {url}: {error}: check the mirror and the network") from error


def verify(keyring, url, files, signed):
    """Checks the signature in `files` (an InRelease, or Release.gpg and Release) with gpgv against
    `keyring`; returns the signed text (written by gpgv, so text outside the signature is ignored)."""
    gpgv = shutil.which("gpgv")
    if not gpgv:
        raise LockError("gpgv not found: install it (apt-get install gpgv); it verifies the archive's signature")
    if not os.path.isfile(keyring):
        raise LockError(f"keyring {keyring} not found: install it (apt-get install debian-archive-keyring) or set keyring")
    with tempfile.TemporaryDirectory() as scratch:
        paths = []
        for index, data in enumerate(files):
            paths.append(os.path.join(scratch, f"input{index}"))
            with open(paths[-1], "wb") as output:
                output.write(data)
        text = os.path.join(scratch, "signed")
        command = [gpgv, "--quiet", "--status-fd", "1", "--keyring", keyring]
        result = subprocess.run(command + (["--output", text] if signed else []) + paths,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        status = [line.split()[1] for line in result.stdout.decode(errors="replace").splitlines()
                  if line.startswith("[GNUPG:] ") and len(line.split()) > 1]
        # As apt: one valid signature by a key of the keyring, and no bad one.
        if "VALIDSIG" not in status or "BADSIG" in status:
            reason = (result.stderr.decode(errors="replace").strip().splitlines() or ["no valid signature"])[-1]
            raise LockError(f"{url}: the signature does not verify against {keyring} ({reason.strip()}): "
                            "the mirror serves altered files, or set keyring to the archive's key")
        if not signed:
            return files[1].decode("utf-8")
        with open(text, encoding="utf-8") as signed_text:
            return signed_text.read()


def release(base, suite, keyring):
    """The verified Release text of `suite` at `base`."""
    url = f"{base}/dists/{suite}/InRelease"
    inrelease = fetch(url)
    if inrelease is not None:
        return verify(keyring, url, [inrelease], signed=True)
    url = f"{base}/dists/{suite}/Release"
    data = fetch(url)
    if data is None:
        raise LockError(f"{base}/dists/{suite} has neither InRelease nor Release: check suite and mirror")
    signature = fetch(url + ".gpg")
    if signature is None:
        raise LockError(f"{url} has no signature ({url}.gpg not found): use a signed mirror")
    return verify(keyring, url, [signature, data], signed=False)


def release_fields(text):
    """(the Release's {field: value}, its SHA256 list as {path: (sha256, size)})."""
    fields, hashes, current = {}, {}, None
    for line in text.splitlines():
        if line[:1] in (" ", "\t"):
            parts = line.split()
            if current == "SHA256" and len(parts) == 3:
                hashes[parts[2]] = (parts[0], int(parts[1]))
            continue
        current, _, value = line.partition(":")
        fields[current] = value.strip()
    return fields, hashes


def packages_index(base, suite, architecture, hashes):
    """The verified, decompressed main/binary-<architecture>/Packages of `suite`."""
    path = f"main/binary-{architecture}/Packages.xz"
    if path not in hashes:
        raise LockError(f"the Release file of {suite} lists no {path}: {suite} has no {architecture} packages on this mirror")
    url = f"{base}/dists/{suite}/{path}"
    data = fetch(url)
    if data is None:
        raise LockError(f"{url} not found although the Release file lists it: the mirror is incomplete")
    sha256, size = hashes[path]
    if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
        raise LockError(f"{url} does not match the sha256 of the signed Release file: the mirror is being "
                        "updated or serves altered files: run again later, or use another mirror")
    return lzma.decompress(data).decode("utf-8")


def resolved(index, packages):
    """The lock entries of the closure of `packages` in `index`."""
    entries = []
    for name in index.closure(packages):
        stanza = index.packages[name]
        if not all(stanza.get(field) for field in ("Filename", "Size", "SHA256")):
            raise LockError(f"{name} {stanza['Version']} has no Filename, Size or SHA256 in {index.where}: the index is incomplete")
        entries.append({
            "architecture": stanza["Architecture"],
            "name": name,
            "path": stanza["Filename"],
            "sha256": stanza["SHA256"],
            "size": int(stanza["Size"]),
            "version": stanza["Version"],
        })
    return entries


def render(inputs, closures):
    """The lock's canonical text: sorted keys, one package per line, ASCII, a final newline."""
    lines = ["{"]
    lines += [f"  {json.dumps(key)}: {json.dumps(inputs[key])}," for key in ("architectures", "format", "mirror", "packages")]
    lines.append('  "resolved": {')
    for position, architecture in enumerate(sorted(closures)):
        entries = [json.dumps(entry, sort_keys=True) for entry in closures[architecture]]
        lines.append(f"    {json.dumps(architecture)}: [")
        lines += [f"      {entry}{',' if i < len(entries) - 1 else ''}" for i, entry in enumerate(entries)]
        lines.append("    ]" + ("," if position < len(closures) - 1 else ""))
    lines.append("  },")
    lines += [f'  "suite": {json.dumps(inputs["suite"])}', "}"]
    return "\n".join(lines) + "\n"


def lock_text(config, base, keyring):
    """What the lock of `config` (suite, mirror, packages, architectures) holds with the archive
    as `base` serves it now, verified with `keyring`; also returns the closures."""
    suite = config["suite"]
    fields, hashes = release_fields(release(base, suite, keyring))
    if suite not in (fields.get("Codename"), fields.get("Suite")):
        raise LockError(f"{base}/dists/{suite} holds the Release of {fields.get('Codename') or fields.get('Suite')}, "
                        f"not {suite}: check the mirror")
    closures = {}
    for architecture in config["architectures"]:
        text = packages_index(base, suite, architecture, hashes)
        index = resolve.Index(resolve.parse_packages(text), f"{suite} main for {architecture}")
        closures[architecture] = resolved(index, config["packages"])
    inputs = {"architectures": sorted(config["architectures"]), "format": FORMAT, "mirror": config["mirror"],
              "packages": sorted(set(config["packages"])), "suite": suite}
    return render(inputs, closures), closures


def write_atomically(path, text):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise LockError(f"{directory} does not exist: the lock's package must be a directory of the workspace")
    fd, partial = tempfile.mkstemp(dir=directory, prefix=".partial-")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as output:
            output.write(text)
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        os.unlink(partial)
        raise


def run(config, check):
    command = f"`bazel run @{config['image']}//:lock`"
    if config["lock"] is None:
        raise LockError(f"no lock: set lock = \"//:{config['image']}.lock.json\" on the debian_image and run {command} "
                        "to write it")
    if not config["lock"]:
        raise LockError(f"lock {config['lock_label']} is outside the main repository: run {command} in the "
                        "workspace of the repository that holds it")
    workspace = os.environ["BUILD_WORKSPACE_DIRECTORY"]
    path = os.path.join(workspace, config["lock"])
    base = (os.environ.get(MIRROR_ENV) or config["mirror"]).rstrip("/")
    text, closures = lock_text(config, base, os.path.join(workspace, config["keyring"]))
    if check:
        try:
            with open(path, encoding="utf-8") as current:
                same = current.read() == text
        except FileNotFoundError:
            raise LockError(f"{config['lock_label']} does not exist: run {command}") from None
        if not same:
            raise LockError(f"{config['lock_label']} is out of date (the archive or the inputs changed, or it was "
                            f"edited): run {command}")
        return f"{config['lock_label']} is up to date"
    write_atomically(path, text)
    counts = ", ".join(f"{len(entries)} packages for {arch}" for arch, entries in sorted(closures.items()))
    return f"wrote {config['lock_label']}: {counts}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="the debian_image's inputs (written by the lock target)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the lock differs from what would be written")
    # One line, not argparse's usage text: the script's only flag is --check.
    parser.error = lambda message: sys.exit(f"{parser.prog}: {message}: the lock command takes --check or nothing")
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as config_file:
        config = json.load(config_file)
    try:
        print(f"debian_image({config['image']}): {run(config, args.check)}", file=sys.stderr)
    except (LockError, resolve.ResolveError) as error:
        print(f"debian_image({config['image']}): {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
