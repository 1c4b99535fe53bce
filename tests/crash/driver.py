"""The crash driver: `ledger serve` and `ledger worker` as real processes, killed at a named step.

Each process is started with `LEDGER_TEST_CRASH_AT=<step>` (see `adapters.crashpoint`), which makes
it SIGKILL itself exactly there; the driver waits for the kill (-9), then restarts it without the
variable. Everything runs against one PostgreSQL database, Stripe's API as served by localstripe,
and the pharmacy sandbox over loopback HTTP; what happened is then counted at each of them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from adapters.crashpoint import CRASH_ENV
from api.auth import issue_token

ROOT = Path(__file__).resolve().parents[2]
ORG = "org_crash"
SECRET = "crash-test-secret-" + "z" * 20
STRIPE_KEY = "sk_test_crash"
PHARMACY_KEY = "pharmacy-crash-key"
PENDING_AFTER_S = 2.0  # short, so the reconciler re-drives within seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    database_url: str
    stripe_url: str
    pharmacy_url: str
    var_dir: Path
    port: int = field(default_factory=free_port)
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, crash_at: str | None) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "LEDGER_ENV": "local",
            "LEDGER_VAR_DIR": str(self.var_dir),
            "DATABASE_URL": self.database_url,
            "LEDGER_ORGANIZATION_ID": ORG,
            "LEDGER_SECRET": SECRET,
            "LEDGER_PAYMENT_GATEWAY": "stripe",
            "LEDGER_STRIPE_API_KEY": STRIPE_KEY,
            "LEDGER_STRIPE_API_BASE": self.stripe_url,
            "LEDGER_PHARMACY_URL": self.pharmacy_url,
            "LEDGER_PHARMACY_API_KEY": PHARMACY_KEY,
            "LEDGER_PAYMENT_PENDING_AFTER_SECONDS": str(PENDING_AFTER_S),
            "LEDGER_LOG_LEVEL": "INFO",
        }
        for name in ("LEDGER_BELUGA_URL", "NATS_URL", CRASH_ENV):
            env.pop(name, None)
        if crash_at is not None:
            env[CRASH_ENV] = crash_at
        return env

    def _spawn(self, args: list[str], crash_at: str | None, name: str) -> subprocess.Popen[bytes]:
        log = self.var_dir / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            return subprocess.Popen(
                [sys.executable, "-c", "from ledger.cli import app; app()", *args],
                cwd=ROOT,
                env=self.env(crash_at),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def start_server(self, crash_at: str | None = None) -> None:
        assert self.server is None or self.server.poll() is not None
        self.server = self._spawn(
            ["serve", "--port", str(self.port), "--no-demo", "--no-workers"], crash_at, "server"
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise AssertionError(f"server exited early: {self.tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server did not answer: {self.tail()}")

    def start_worker(self, crash_at: str | None = None) -> None:
        assert self.worker is None or self.worker.poll() is not None
        self.worker = self._spawn(["worker", "--kind", "policies"], crash_at, "worker")

    @staticmethod
    def killed(proc: subprocess.Popen[bytes] | None, timeout: float = 60) -> int:
        """Wait for a process to die at its crash point; its exit code (-9: SIGKILL)."""
        assert proc is not None
        return proc.wait(timeout)

    def stop(self) -> None:
        for proc in (self.server, self.worker):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)

    def tail(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.logs[-2:] if p.exists())

    # -- HTTP as its callers ---------------------------------------------------------------------

    def headers(self, role: str, subject: str | None = None) -> dict[str, str]:
        token = issue_token(SECRET, role=role, subject=subject, organization_id=ORG, now=datetime.now(UTC))
        return {"Authorization": f"Bearer {token}"}

    def call(
        self, method: str, path: str, role: str, subject: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = {**self.headers(role, subject), **kw.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, timeout=60, **kw)

    def ok(self, method: str, path: str, role: str, subject: str | None = None, **kw: Any) -> Any:
        r = self.call(method, path, role, subject, **kw)
        assert r.status_code in (200, 201), (r.status_code, r.text)
        return r.json()
