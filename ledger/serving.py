"""How `ledger serve` runs: one process on the embedded store, N API processes on PostgreSQL.

- SQLite: one process serves the API and runs every background worker in threads (SQLite has one
  writer and no LISTEN/NOTIFY to share).
- PostgreSQL: the API holds no state of its own, so `--processes N` starts N uvicorn worker processes
  sharing the listening socket; each builds its runtime from the same settings (`asgi_app`). The
  background workers run in a `ledger worker` process of their own (`ledger/workers.py`), started by
  `serve` when `LEDGER_ENV=local` (a laptop: the complete path, with the demo's vendor sandboxes) and
  deployed separately in production (`docs/DEPLOYMENT.md`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import uvicorn
from starlette.applications import Starlette

from adapters.logging import configure_logging
from adapters.singleton import startup_lock
from api.app import create_app
from api.runtime import Runtime
from ledger.bootstrap import build_runtime
from ledger.settings import Settings, load_settings
from ledger.workers import KINDS, start_workers


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as the environment variables that produce them, for the processes `serve` starts
    (so they share the secrets generated locally and the sandboxes' URLs)."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump(by_alias=True).items():
        if value is None:
            continue
        env[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def thread_limiter(threads: int) -> Callable[[], None]:
    """A start-up hook sizing the thread pool Starlette runs our (synchronous) endpoints in."""

    def apply() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads

    return apply


def build(settings: Settings) -> Runtime:
    """`build_runtime`, one process at a time: the processes `serve` starts (and a `ledger worker` beside
    them) each create the schema if it is missing."""
    with startup_lock(settings.views_target()[1] if settings.is_postgres else None):
        return build_runtime(settings)


def asgi_app() -> Starlette:
    """The app each of `ledger serve --processes N`'s processes builds (uvicorn's factory)."""
    settings, _ = load_settings().with_local_defaults()
    configure_logging(json_lines=settings.json_logs, level=settings.log_level)
    return create_app(build(settings), on_startup=[thread_limiter(settings.api_threads)])


def start_worker_process(settings: Settings, kinds: tuple[str, ...] = KINDS) -> subprocess.Popen[bytes]:
    """`ledger worker` as a child process (its logs go where ours go)."""
    args = [sys.executable, "-m", "ledger", "worker"]
    for kind in kinds:
        args += ["--kind", kind]
    return subprocess.Popen(args, env={**os.environ, **settings_env(settings)})  # noqa: S603


def stop_process(process: subprocess.Popen[Any], timeout: float = 15.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def run(settings: Settings, runtime: Runtime, *, host: str, port: int, processes: int, workers: bool) -> None:
    """Serve until interrupted. `runtime` was built (and the demo seeded) by the caller."""
    uv: dict[str, Any] = {"host": host, "port": port, "log_level": "warning", "access_log": False}
    if not settings.is_postgres:
        start_workers(runtime, ("policies", "projections", "sealer", "timers"))  # in threads, beside the API
        uvicorn.run(create_app(runtime, on_startup=[thread_limiter(settings.api_threads)]), **uv)
        return
    child = start_worker_process(settings) if workers else None
    try:
        if processes == 1:
            uvicorn.run(create_app(runtime, on_startup=[thread_limiter(settings.api_threads)]), **uv)
            return
        runtime.shutdown()  # each API process builds its own; this one only supervises them
        runtime.on_shutdown.clear()
        os.environ.update(settings_env(settings))
        uvicorn.run("ledger.serving:asgi_app", factory=True, workers=processes, **uv)
    finally:
        if child is not None:
            stop_process(child)
