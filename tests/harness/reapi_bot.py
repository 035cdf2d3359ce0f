"""A Remote Workers API bot for BuildGrid: it takes leases (REAPI Actions), runs each in a fresh
directory holding exactly the action's input root, and reports the ActionResult. Test
infrastructure for remote execution: no sandbox beyond that directory, commands run as this
user on this machine.

    python reapi_bot.py --remote 127.0.0.1:PORT --workdir DIR [--concurrency 2]

Runs with the interpreter of BuildGrid's venv (tests/harness/remote_execution.py starts it): it uses
the REAPI/RWAPI protos bundled in the buildgrid wheel, and grpcio. Blobs go through the CAS
batch calls up to the server's batch limit and through ByteStream above it; a local blob cache
keeps each input blob fetched once; actions run `--concurrency` at a time, each killed at its
timeout (the Action's, or --default-timeout).
"""

import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re
from buildgrid._protos.google.devtools.remoteworkers.v1test2 import bots_pb2, bots_pb2_grpc, worker_pb2
from buildgrid._protos.google.rpc import code_pb2

from reapi_cas import Cas, digest_of, file_digest, retrying

ACTIVE, COMPLETED, CANCELLED = bots_pb2.LeaseState.ACTIVE, bots_pb2.LeaseState.COMPLETED, bots_pb2.LeaseState.CANCELLED


class ActionTimeout(Exception):
    pass


def log(message: str) -> None:
    print(f"reapi_bot: {message}", flush=True)


def materialize(cas: Cas, root_digest, path: Path) -> None:
    """Writes the input root `root_digest` into the empty directory `path`."""
    directories = {}
    for page in cas.tree(root_digest):
        for directory in page.directories:
            directories[digest_of(directory.SerializeToString()).hash] = directory
    files = [f.digest for d in directories.values() for f in d.files]
    cas.fetch(files)

    def fill(directory_digest, target: Path):
        target.mkdir(parents=True, exist_ok=True)
        directory = directories[directory_digest.hash]
        for entry in directory.files:
            destination = target / entry.name
            shutil.copyfile(cas.local_path(entry.digest), destination)
            destination.chmod(0o755 if entry.is_executable else 0o644)
        for link in directory.symlinks:
            (target / link.name).symlink_to(link.target)
        for child in directory.directories:
            fill(child.digest, target / child.name)

    fill(root_digest, path)


def directory_messages(path: Path, uploads: list) -> tuple:
    """(Directory of `path`, every Directory below it); file contents are added to uploads."""
    directory, below = re.Directory(), []
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        if entry.is_symlink():
            directory.symlinks.add(name=entry.name, target=os.readlink(entry.path))
        elif entry.is_dir():
            child, grandchildren = directory_messages(Path(entry.path), uploads)
            below += [child, *grandchildren]
            directory.directories.add(name=entry.name, digest=digest_of(child.SerializeToString()))
        else:
            digest = file_digest(Path(entry.path))
            uploads.append((digest, Path(entry.path)))
            directory.files.add(name=entry.name, digest=digest, is_executable=os.access(entry.path, os.X_OK))
    return directory, below


def collect_outputs(cwd: Path, command, result, uploads: list) -> None:
    """Adds every declared output that exists to `result` (and its blobs to uploads)."""
    outputs = list(command.output_paths) or [*command.output_files, *command.output_directories]
    for name in outputs:
        path = cwd / name
        if path.is_symlink():
            result.output_symlinks.add(path=name, target=os.readlink(path))
        elif path.is_dir():
            root, below = directory_messages(path, uploads)
            tree = re.Tree(root=root, children=below).SerializeToString()
            uploads.append((digest_of(tree), tree))
            result.output_directories.add(path=name, tree_digest=digest_of(tree))
        elif path.is_file():
            digest = file_digest(path)
            uploads.append((digest, path))
            result.output_files.add(path=name, digest=digest, is_executable=os.access(path, os.X_OK))


def execute(cas: Cas, action, workdir: Path, default_timeout: float):
    """Runs one Action; returns its ActionResult. Raises ActionTimeout past its timeout."""
    command = cas.message(action.command_digest, re.Command())
    exec_root = workdir / uuid.uuid4().hex
    try:
        materialize(cas, action.input_root_digest, exec_root)
        cwd = exec_root / command.working_directory
        outputs = list(command.output_paths) or [*command.output_files, *command.output_directories]
        for name in outputs:
            (cwd / name).parent.mkdir(parents=True, exist_ok=True)
        timeout = action.timeout.seconds + action.timeout.nanos / 1e9 or default_timeout
        stdout, stderr = exec_root.with_suffix(".stdout"), exec_root.with_suffix(".stderr")
        started = time.monotonic()
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(list(command.arguments), cwd=cwd, stdout=out, stderr=err,
                                       env={v.name: v.value for v in command.environment_variables},
                                       start_new_session=True)
            try:
                exit_code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()
                raise ActionTimeout(f"{command.arguments[0]} ran longer than its timeout of {timeout:.0f} s")
        result = re.ActionResult(exit_code=exit_code)
        uploads = []
        for stream, field in ((stdout, result.stdout_digest), (stderr, result.stderr_digest)):
            digest = file_digest(stream)
            uploads.append((digest, stream))
            field.CopyFrom(digest)
        collect_outputs(cwd, command, result, uploads)
        cas.upload(uploads)
        log(f"ran {Path(command.arguments[0]).name} exit={exit_code} in {time.monotonic() - started:.2f}s")
        return result
    finally:
        shutil.rmtree(exec_root, ignore_errors=True)
        for suffix in (".stdout", ".stderr"):
            exec_root.with_suffix(suffix).unlink(missing_ok=True)


def lease_action(cas: Cas, lease):
    action = re.Action()
    if lease.payload.Is(re.Action.DESCRIPTOR):
        lease.payload.Unpack(action)
    else:
        digest = re.Digest()
        lease.payload.Unpack(digest)
        cas.message(digest, action)
    return action


def finish(lease, future) -> None:
    """Fills the lease from its finished run: a result, or the status of what went wrong."""
    try:
        lease.result.Pack(future.result())
        lease.status.code = code_pb2.OK
    except ActionTimeout as err:
        lease.status.code, lease.status.message = code_pb2.DEADLINE_EXCEEDED, str(err)
    except Exception as err:  # a broken lease is reported, the bot goes on
        lease.status.code, lease.status.message = code_pb2.INTERNAL, f"{type(err).__name__}: {err}"
    lease.state = COMPLETED


def serve(args) -> None:
    channel = grpc.insecure_channel(args.remote, options=[("grpc.max_receive_message_length", 64 << 20)])
    cas = Cas(channel, args.instance, args.workdir / "blobs")
    bots = bots_pb2_grpc.BotsStub(channel)
    worker = worker_pb2.Worker()
    worker.configs.add(key="capacity", value=str(args.concurrency))
    device = worker.devices.add(handle="reapi-bot")
    device.properties.add(key="OSFamily", value="linux")
    device.properties.add(key="ISA", value="x86-64")
    session = bots_pb2.BotSession(bot_id=f"reapi-bot-{os.getpid()}", status=bots_pb2.BotStatus.OK, worker=worker)
    session = retrying(bots.CreateBotSession, bots_pb2.CreateBotSessionRequest(parent=args.instance, bot_session=session),
                       timeout=30)
    log(f"session {session.name}, concurrency {args.concurrency}")
    running = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        while True:
            for lease in session.leases:
                if lease.state == ACTIVE and lease.id not in running:
                    running[lease.id] = pool.submit(execute, cas, lease_action(cas, lease), args.workdir, args.default_timeout)
                elif lease.id in running and running[lease.id].done():
                    finish(lease, running.pop(lease.id))
            # The server answers at once while the session holds leases (it long-polls only
            # an empty one), so a finished lease is reported within this pause.
            if running:
                time.sleep(0.1)
            session = retrying(bots.UpdateBotSession, bots_pb2.UpdateBotSessionRequest(name=session.name, bot_session=session),
                               timeout=30)
            for lease in session.leases:
                if lease.state == CANCELLED and lease.id in running:
                    running.pop(lease.id).cancel()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--remote", required=True, help="BuildGrid's host:port")
    parser.add_argument("--instance", default="", help="REAPI instance name")
    parser.add_argument("--workdir", type=Path, required=True, help="directory for input roots and blobs")
    parser.add_argument("--concurrency", type=int, default=2, help="actions run at once")
    parser.add_argument("--default-timeout", type=float, default=900, help="seconds, for actions without a timeout")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        serve(args)
    except KeyboardInterrupt:
        return 0
    except grpc.RpcError as err:
        print(f"reapi_bot: error: {args.remote}: {err.code().name}: {err.details()}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
