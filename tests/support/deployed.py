"""The ledger as deployed on PostgreSQL: `ledger serve --processes N` and `ledger worker`s as subprocesses.

Tests that claim "no duplicated effect across processes" run against this: the API's processes share
one socket (so concurrent requests land on different processes), and every background worker kind
runs in two processes, one active at a time. Each process logs JSON lines carrying its pid to a file,
so a test can tell which processes served it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from ledger.serving import settings_env, stop_process
from ledger.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Deployment:
    url: str
    api: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]
    api_log: Path
    worker_logs: list[Path]
    _files: list[IO[bytes]] = field(default_factory=list, repr=False)

    def api_pids_serving(self, path_template: str) -> set[int]:
        """The pids of the API processes that logged a request for this route."""
        return {
            int(line["pid"])
            for line in _json_lines(self.api_log)
            if line.get("event") == "request" and line.get("path") == path_template
        }

    def active_worker(self, job: str, timeout: float = 60.0) -> int:
        """Index (into `workers`) of a live process that took `job`'s lease (a job or a projection)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [
                i
                for i, log in enumerate(self.worker_logs)
                if self.workers[i].poll() is None
                and any(
                    ln.get("event") in ("worker.active", "projection.worker.active")
                    and job in (ln.get("job"), ln.get("projection"))
                    for ln in _json_lines(log)
                )
            ]
            if found:
                return found[-1]
            time.sleep(0.1)
        raise AssertionError(f"no worker became active for {job}")


def _json_lines(path: Path) -> Iterator[dict[str, Any]]:
    for raw in path.read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            try:
                yield json.loads(raw)
            except ValueError:
                continue


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited ({process.returncode}): {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server did not answer: {log.read_text()[-3000:]}")


@contextmanager
def deployed_ledger(
    settings: Settings, *, port: int | None = None, processes: int = 2, workers: int = 2
) -> Iterator[Deployment]:
    """`ledger serve --processes N --no-workers` and `workers` x `ledger worker` on `settings`' database."""
    assert settings.is_postgres, "N API processes share PostgreSQL only"
    port = port or free_port()
    env = {
        **os.environ,
        **settings_env(settings),
        "LEDGER_LOG_JSON": "true",
        "LEDGER_LOG_LEVEL": "INFO",
        # Small pools: eight of us share one server's 100 connections, and each process has its pools.
        "LEDGER_DB_POOL_SIZE": "3",
    }
    logs = settings.var_dir
    logs.mkdir(parents=True, exist_ok=True)
    ledger = [sys.executable, "-m", "ledger"]
    with ExitStack() as stack:
        api_log = logs / "api.log"
        api_out = stack.enter_context(api_log.open("wb"))
        api = subprocess.Popen(
            [
                *ledger,
                "serve",
                "--port",
                str(port),
                "--processes",
                str(processes),
                "--no-demo",
                "--no-workers",
            ],
            env=env,
            stdout=api_out,
            stderr=subprocess.STDOUT,
        )
        stack.callback(stop_process, api)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, api, api_log)
        procs, worker_logs = [], []
        for i in range(workers):
            path = logs / f"worker-{i}.log"
            out = stack.enter_context(path.open("wb"))
            proc = subprocess.Popen([*ledger, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
            stack.callback(stop_process, proc)
            procs.append(proc)
            worker_logs.append(path)
        deployment = Deployment(url, api, procs, api_log, worker_logs)
        deployment.active_worker("policies")  # the first worker is up before the test drives it
        yield deployment
