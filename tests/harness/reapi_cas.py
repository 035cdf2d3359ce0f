"""The REAPI content-addressable storage as tests/harness/reapi_bot.py uses it: blobs up to the
server's batch limit through BatchReadBlobs / BatchUpdateBlobs, larger ones streamed through
ByteStream (Read / Write in 1 MiB chunks), every blob checked against its sha256. Fetched
blobs stay in a local directory keyed by digest, so an input shared by many actions (a tool
binary, a wheel) is fetched once."""

import hashlib
import io
import os
import time
import uuid
from pathlib import Path

import grpc
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2_grpc as re_grpc
from buildgrid._protos.google.bytestream import bytestream_pb2, bytestream_pb2_grpc
from buildgrid._protos.google.rpc import code_pb2

CHUNK = 1 << 20
# What a batch request may carry when the server states no limit (gRPC's default message size
# is 4 MiB; the margin is for the request's own fields).
DEFAULT_BATCH_LIMIT = (4 << 20) - (64 << 10)


def digest_of(data: bytes):
    return re.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def file_digest(path: Path):
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            sha.update(chunk)
    return re.Digest(hash=sha.hexdigest(), size_bytes=path.stat().st_size)


TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)


class CasError(Exception):
    pass


def retrying(call, *args, attempts: int = 6, **kwargs):
    """`call(*args, **kwargs)`, again after 0.5, 1, 2, ... s while the server is busy or away."""
    for attempt in range(attempts):
        try:
            return call(*args, **kwargs)
        except grpc.RpcError as err:
            if err.code() not in TRANSIENT or attempt == attempts - 1:
                raise
            time.sleep(0.5 * 2 ** attempt)


class Cas:
    def __init__(self, channel, instance: str, blob_dir: Path):
        self.instance = instance
        self.blob_dir = Path(blob_dir)
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self._cas = re_grpc.ContentAddressableStorageStub(channel)
        self._bytestream = bytestream_pb2_grpc.ByteStreamStub(channel)
        capabilities = retrying(re_grpc.CapabilitiesStub(channel).GetCapabilities,
                                re.GetCapabilitiesRequest(instance_name=instance), timeout=30)
        stated = capabilities.cache_capabilities.max_batch_total_size_bytes
        self.batch_limit = min(stated, DEFAULT_BATCH_LIMIT) if stated else DEFAULT_BATCH_LIMIT

    def _resource(self, *parts: str) -> str:
        return "/".join(part for part in (self.instance, *parts) if part)

    def local_path(self, digest) -> Path:
        return self.blob_dir / f"{digest.hash}-{digest.size_bytes}"

    def _store(self, digest, chunks) -> None:
        """Writes a fetched blob into the local directory, only once its sha256 matches."""
        partial = self.blob_dir / f".{uuid.uuid4().hex}"
        sha = hashlib.sha256()
        try:
            with partial.open("wb") as out:
                for chunk in chunks:
                    sha.update(chunk)
                    out.write(chunk)
            if sha.hexdigest() != digest.hash:
                raise CasError(f"blob {digest.hash} arrived with sha256 {sha.hexdigest()}")
            os.replace(partial, self.local_path(digest))
        finally:
            partial.unlink(missing_ok=True)

    def fetch(self, digests) -> None:
        """Makes every blob of `digests` available under local_path()."""
        wanted = {}
        for digest in digests:
            if not self.local_path(digest).exists():
                wanted[digest.hash] = digest
        small = [d for d in wanted.values() if d.size_bytes <= self.batch_limit]
        for digest in (d for d in wanted.values() if d.size_bytes > self.batch_limit):
            request = bytestream_pb2.ReadRequest(resource_name=self._resource("blobs", digest.hash, str(digest.size_bytes)))
            retrying(lambda: self._store(digest, (r.data for r in self._bytestream.Read(request, timeout=600))))
        for batch in self._batches(small):
            response = retrying(self._cas.BatchReadBlobs, re.BatchReadBlobsRequest(instance_name=self.instance, digests=batch),
                                timeout=300)
            for blob in response.responses:
                if blob.status.code != code_pb2.OK:
                    raise CasError(f"reading blob {blob.digest.hash}: {blob.status.message}")
                self._store(blob.digest, [blob.data])

    def message(self, digest, message):
        """Parses the blob `digest` into `message` and returns it."""
        self.fetch([digest])
        message.ParseFromString(self.local_path(digest).read_bytes())
        return message

    def tree(self, root_digest):
        """The pages of GetTree: every Directory below (and including) root_digest."""
        request = re.GetTreeRequest(instance_name=self.instance, root_digest=root_digest)
        return retrying(lambda: list(self._cas.GetTree(request, timeout=300)))

    def upload(self, blobs) -> None:
        """Uploads what the server lacks of `blobs`: (digest, bytes or Path) pairs."""
        by_hash = {digest.hash: (digest, content) for digest, content in blobs}
        missing = retrying(self._cas.FindMissingBlobs, re.FindMissingBlobsRequest(
            instance_name=self.instance, blob_digests=[digest for digest, _ in by_hash.values()]), timeout=300)
        todo = [by_hash[d.hash] for d in missing.missing_blob_digests]
        for digest, content in todo:
            if digest.size_bytes > self.batch_limit:
                self._write(digest, content)
        small = [(digest, content) for digest, content in todo if digest.size_bytes <= self.batch_limit]
        contents = {digest.hash: content for digest, content in small}
        for batch in self._batches([digest for digest, _ in small]):
            requests = [re.BatchUpdateBlobsRequest.Request(digest=d, data=_read(contents[d.hash])) for d in batch]
            response = retrying(self._cas.BatchUpdateBlobs, re.BatchUpdateBlobsRequest(
                instance_name=self.instance, requests=requests), timeout=300)
            for blob in response.responses:
                if blob.status.code != code_pb2.OK:
                    raise CasError(f"writing blob {blob.digest.hash}: {blob.status.message}")

    def _write(self, digest, content) -> None:
        """Streams one blob through ByteStream Write, CHUNK bytes per request."""
        resource = self._resource("uploads", str(uuid.uuid4()), "blobs", digest.hash, str(digest.size_bytes))

        def requests():
            with (content.open("rb") if isinstance(content, Path) else io.BytesIO(content)) as stream:
                offset = 0
                while True:
                    chunk = stream.read(CHUNK)
                    last = offset + len(chunk) >= digest.size_bytes
                    yield bytestream_pb2.WriteRequest(resource_name=resource if offset == 0 else "",
                                                      write_offset=offset, data=chunk, finish_write=last)
                    offset += len(chunk)
                    if last:
                        return

        response = retrying(lambda: self._bytestream.Write(requests(), timeout=600))
        if response.committed_size != digest.size_bytes:
            raise CasError(f"ByteStream wrote {response.committed_size} of {digest.size_bytes} bytes of {digest.hash}")

    def _batches(self, digests):
        """Groups digests so that each batch stays within the server's batch limit."""
        batch, size = [], 0
        for digest in digests:
            if batch and size + digest.size_bytes > self.batch_limit:
                yield batch
                batch, size = [], 0
            batch.append(digest)
            size += digest.size_bytes
        if batch:
            yield batch


def _read(content) -> bytes:
    return content.read_bytes() if isinstance(content, Path) else content
