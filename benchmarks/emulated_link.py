"""A network link with a round-trip time and a bandwidth, between this machine and a private
network namespace, for benchmarks that push over something like a real link.

`tc netem` would be the usual tool, but this machine's kernel is built without it (no
CONFIG_NET_SCH_NETEM, and no fq/BPF scheduler either), so the link is emulated in user space:
two TUN devices, one in this namespace and one moved into the benchmark's namespace, and a
thread per direction that reads each IP packet from one and writes it to the other after the
time it takes to serialise at the link's rate (behind the packets already queued, a drop-tail
buffer of one bandwidth-delay product) plus half the round-trip time. TCP runs end to end in the
two kernels, so its window, slow start and loss recovery are the real ones. `cut()` drops every
packet for a while, as a broken link does.

Needs root. Everything it creates (the namespace, both devices) is removed by `close()`.
"""

import fcntl
import os
import select
import struct
import subprocess
import threading
import time
from collections import deque

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def _open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def _ip(*args, namespace=None):
    command = (["ip", "netns", "exec", namespace] if namespace else []) + ["ip", *args]
    subprocess.run(command, check=True, capture_output=True, text=True)


class Direction:
    """One direction of the link: packets read from `source` reach `sink` after their
    serialisation at `rate` bits/s and `delay` seconds."""

    def __init__(self, link, source: int, sink: int):
        self.link, self.source, self.sink = link, source, sink
        self.queue = deque()  # (due time, packet), in due order
        self.free_at = 0.0  # when the link finishes serialising what it holds
        self.bytes = 0
        self.dropped = 0

    def run(self):
        link = self.link
        while not link.stopping.is_set():
            now = time.monotonic()
            timeout = min(0.05, max(0.0, self.queue[0][0] - now)) if self.queue else 0.05
            readable, _, _ = select.select([self.source], [], [], timeout)
            now = time.monotonic()
            if readable:
                self._take(now)
            while self.queue and self.queue[0][0] <= now:
                _, packet = self.queue.popleft()
                try:
                    os.write(self.sink, packet)
                except BlockingIOError:
                    self.dropped += 1

    def _take(self, now: float):
        link = self.link
        while True:
            try:
                packet = os.read(self.source, 65536)
            except BlockingIOError:
                return
            backlog = max(0.0, self.free_at - now) * link.rate / 8
            if now < link.cut_until or backlog + len(packet) > link.buffer:
                self.dropped += 1
                continue
            self.free_at = max(self.free_at, now) + len(packet) * 8 / link.rate
            self.queue.append((self.free_at + link.delay, packet))
            self.bytes += len(packet)


class EmulatedLink:
    """`near` (this namespace) <-> `far` (inside `namespace`): run servers with
    `ip netns exec <namespace>` on `far`, connect to them from here."""

    def __init__(self, name: str = "rsbench", rtt_ms: float = 50, rate_mbit: float = 1000, mtu: int = 9000,
                 subnet: str = "10.231.7"):
        self.namespace = f"{name}-ns"
        self.devices = (f"{name}0", f"{name}1")
        self.near, self.far = f"{subnet}.1", f"{subnet}.2"
        self.delay = rtt_ms / 2000
        self.rate = rate_mbit * 1e6
        self.buffer = max(64 * 1024, int(self.rate / 8 * rtt_ms / 1000))
        self.mtu = mtu
        self.cut_until = 0.0
        self.stopping = threading.Event()
        self.fds = ()
        self.threads = []
        self.created = False  # the namespace, by this object

    def __enter__(self):
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_):
        self.close()

    def _create(self):
        near_dev, far_dev = self.devices
        added = subprocess.run(["ip", "netns", "add", self.namespace], capture_output=True, text=True)
        if added.returncode != 0:
            raise RuntimeError(f"cannot create network namespace {self.namespace}: {added.stderr.strip()} "
                               f"(left by a killed run? `ip netns del {self.namespace}`)")
        self.created = True
        self.fds = (_open_tun(near_dev), _open_tun(far_dev))
        _ip("link", "set", far_dev, "netns", self.namespace)
        for device, address, peer, namespace in ((near_dev, self.near, self.far, None),
                                                 (far_dev, self.far, self.near, self.namespace)):
            _ip("link", "set", device, "mtu", str(self.mtu), namespace=namespace)
            _ip("addr", "add", address, "peer", peer, "dev", device, namespace=namespace)
            _ip("link", "set", device, "up", namespace=namespace)
        _ip("link", "set", "lo", "up", namespace=self.namespace)
        near_fd, far_fd = self.fds
        self.outbound, self.inbound = Direction(self, near_fd, far_fd), Direction(self, far_fd, near_fd)
        for direction in (self.outbound, self.inbound):
            thread = threading.Thread(target=direction.run, daemon=True)
            thread.start()
            self.threads.append(thread)

    def cut(self, seconds: float):
        """Drops every packet, both ways, for `seconds` from now."""
        self.cut_until = time.monotonic() + seconds

    def close(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join()
        for fd in self.fds:
            os.close(fd)
        self.fds = ()
        if self.created:
            subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)
            self.created = False
