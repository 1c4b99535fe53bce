"""The background workers, by kind: what `ledger worker` runs in its own process (PostgreSQL) and what
`ledger serve` runs beside the API on the embedded store.

- `policies`: webhook re-apply, medical-review auto-submit, fulfillment gate, pharmacy submitter;
- `projections`: order index, order status, CS view, stuck orders (one advisory lock per projection);
- `sealer`: the hash chain and its signed checkpoints;
- `relay`: the event log to NATS JetStream (only with `NATS_URL`);
- `timers`: due durable timers (subscription cycles, dunning retries). Not a singleton: several may
  run at once, each claiming its own due rows (`service.timers`), every timer firing once.

Each sleeps on LISTEN/NOTIFY on PostgreSQL (`adapters.singleton`), so any number of worker processes can
run for failover: the stand-bys take over within a second of the active one dying.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Protocol

from adapters.eventstore import LedgerStore
from adapters.nats_relay import NatsRelay, RelayConfig, TrackingDatabase
from adapters.singleton import SingletonLoop
from api.runtime import Runtime
from ledger.fulfillment import start_policy_worker
from ledger.timers import start_timer_worker
from projections.sealer import seal
from projections.worker import ProjectionWorker

KINDS = ("policies", "projections", "sealer", "relay", "timers")


class Stoppable(Protocol):
    def stop(self, timeout: float = ...) -> None: ...


def start_projection_worker(runtime: Runtime, *, poll_interval: float = 0.5) -> ProjectionWorker:
    """Keep every registered projection caught up in a daemon thread; stopped on shutdown."""
    worker = ProjectionWorker(
        runtime.deps.store, runtime.views, runtime.projections, poll_interval=poll_interval
    ).start()
    runtime.projection_worker = worker
    runtime.on_shutdown.insert(0, worker.stop)  # before the views and the store close
    return worker


def start_sealer(runtime: Runtime, *, poll: float = 1.0) -> SingletonLoop:
    """Seal new events into the hash chain as they commit, signing checkpoints."""
    signer = runtime.signer
    store, views = runtime.deps.store, runtime.views
    loop = SingletonLoop(
        "sealer", store, lambda: seal(store, views, signer), poll=poll, wake_on=runtime.deps.after_commit
    ).start()
    runtime.on_shutdown.append(loop.stop)  # shutdown hooks run in reverse: stops before the views close
    return loop


def relay_loop(
    store: LedgerStore,
    db: TrackingDatabase,
    config: RelayConfig,
    after_publish: Callable[[int], None] | None = None,
) -> SingletonLoop:
    """The relay as a singleton job: connects on first use, and after any failure (a NATS node gone, a
    leader election) reconnects and resumes from the tracked position; JetStream drops the re-sent."""
    relay = NatsRelay(store, db, config, after_publish)
    events = asyncio.new_event_loop()  # used only by the loop's own thread
    connected = False

    def step() -> int:
        nonlocal connected
        if not connected:
            events.run_until_complete(relay.connect())
            connected = True
        try:
            return events.run_until_complete(relay.catch_up())
        except Exception:
            connected = False
            with contextlib.suppress(Exception):
                events.run_until_complete(relay.close())
            raise

    def close() -> None:
        with contextlib.suppress(Exception):
            events.run_until_complete(relay.close())
        pending = asyncio.all_tasks(events)  # the NATS client's own tasks, after a broken connection
        for task in pending:
            task.cancel()
        events.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        events.close()

    return SingletonLoop("relay", store, step, poll=1.0, on_stop=close)


def start_relay(runtime: Runtime, config: RelayConfig) -> SingletonLoop:
    """Publish the log to NATS JetStream from its tracked position."""
    loop = relay_loop(runtime.deps.store, runtime.views, config).start()
    runtime.on_shutdown.append(loop.stop)
    return loop


def start_workers(
    runtime: Runtime, kinds: Iterable[str], *, nats_url: str | None = None, nats_replicas: int = 1
) -> list[Callable[[], None]]:
    """Start the named kinds in this process; returns their stop functions (also on runtime.on_shutdown)."""
    started: list[Stoppable] = []
    for kind in kinds:
        if kind == "policies":
            started.append(start_policy_worker(runtime))
        elif kind == "projections":
            started.append(start_projection_worker(runtime))
        elif kind == "sealer":
            started.append(start_sealer(runtime))
        elif kind == "timers":
            started.append(start_timer_worker(runtime))
        elif kind == "relay" and nats_url:
            started.append(start_relay(runtime, RelayConfig(url=nats_url, replicas=nats_replicas)))
        elif kind != "relay":
            raise ValueError(f"unknown worker kind {kind!r}; one of {', '.join(KINDS)}")
    return [w.stop for w in started]
