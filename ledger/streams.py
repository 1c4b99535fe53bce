"""Wiring for the event feed, the hash-chain sealer and compliance exports (called by the bootstrap),
and the sealer's background worker (started by `serve`)."""

from __future__ import annotations

import threading
from pathlib import Path

import structlog

from adapters.chain import Signer
from api.routes_events import STREAM_OPENAPI
from api.runtime import Runtime
from ledger.settings import Settings
from projections.sealer import ensure_chain_schema, seal
from service.feed import Wakeup

log = structlog.get_logger("sealer")


def wire_streams(runtime: Runtime, settings: Settings) -> None:
    assert settings.signing_key is not None, "call Settings.with_local_defaults() first"
    ensure_chain_schema(runtime.views)
    runtime.extras["signer"] = Signer.from_b64(settings.signing_key)
    runtime.extras["export_dir"] = Path(settings.export_dir or settings.var_dir / "exports")
    wakeup = runtime.extras.setdefault("event_wakeup", Wakeup())
    runtime.deps.after_commit.append(wakeup.notify)
    runtime.extras.setdefault("openapi_paths", {}).update(STREAM_OPENAPI)


class SealerWorker:
    """Seals new events as they commit (woken by this process's commits, polling for others')."""

    def __init__(self, runtime: Runtime, poll_seconds: float = 1.0) -> None:
        self.runtime, self.poll = runtime, poll_seconds
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sealer")

    def start(self) -> SealerWorker:
        self.runtime.deps.after_commit.append(lambda _position: self._wake.set())
        self.runtime.on_shutdown.append(self.stop)  # run in reverse: stops before the views close
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(10)

    def _run(self) -> None:
        signer: Signer = self.runtime.extras["signer"]
        while not self._stop.is_set():
            self._wake.clear()
            try:
                sealed = seal(self.runtime.deps.store, self.runtime.views, signer)
                if sealed:
                    log.debug("sealed", events=sealed)
            except Exception as exc:  # keep sealing after a transient database error
                log.warning("seal_failed", error_type=type(exc).__name__)
            self._wake.wait(self.poll)
