"""Run localstripe (a fake Stripe API server, PyPI `localstripe`) for tests and the demo.

We do not use `python -m localstripe --port N`: its CLI binds `::` (every interface, and fails
where IPv6 is off), reloads state from a shared `/tmp/localstripe.pickle`, and rewrites that
file on every write, which races with any other localstripe on the machine. Instead a tiny
launcher serves localstripe's own aiohttp app on a socket bound to 127.0.0.1:0, with the disk
persistence switched off, and reports the port the kernel chose (no free-port race).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx

# Runs in the child. It binds first and prints the port, so the parent never guesses one.
_LAUNCHER = r"""
import os, socket, sys
from aiohttp import web
from localstripe import resources, server

# In-memory only: each run starts empty and never touches /tmp/localstripe.pickle.
resources.Store.dump_to_disk = lambda self: None

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(("127.0.0.1", 0))
sock.listen(128)
print(sock.getsockname()[1], flush=True)
# Nothing else goes to the pipe: an unread pipe that fills up would block the server.
devnull = os.open(os.devnull, os.O_WRONLY)
os.dup2(devnull, 1)
web.run_app(server.app, sock=sock, print=None, access_log=None, handle_signals=True)
"""


class LocalstripeError(RuntimeError):
    """localstripe did not start or did not answer in time."""


def _wait_until_answering(base_url: str, proc: subprocess.Popen[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalstripeError(f"localstripe exited early with code {proc.returncode}")
        try:
            # Any HTTP answer (401 without a key) proves the app is serving.
            httpx.get(f"{base_url}/v1/customers", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise LocalstripeError("localstripe did not answer within the start-up timeout")


@contextlib.contextmanager
def start_localstripe(timeout_s: float = 20.0) -> Iterator[str]:
    """Start a private localstripe on 127.0.0.1; yield its base URL (`http://127.0.0.1:N`)."""
    # Fixed argv: our own interpreter and the launcher above.
    proc = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()  # blocks until bound, or "" if the child died
        if not line.isdigit():
            proc.wait(timeout=5)
            raise LocalstripeError(
                f"localstripe failed to start (exit code {proc.returncode}); "
                "is the `localstripe` dev dependency installed?"
            )
        base_url = f"http://127.0.0.1:{int(line)}"
        _wait_until_answering(base_url, proc, time.monotonic() + timeout_s)
        yield base_url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
