"""The NATS JetStream relay: the ledger's log, published for services beyond one machine.

Each event goes to `<prefix>.<organization>.<aggregate type>.<EventType>` with `Nats-Msg-Id` set
to the event id, in position order, each publish acknowledged before the next. The relay tracks
the last position it relayed like a projection (a `projection_tracking` row), saved after each
page: after a crash it resumes from there and republishes at most one page, which JetStream drops
as duplicates inside the stream's duplicate window. So every event lands in the stream once.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import nats
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from adapters.eventstore import LedgerStore, decode_notification
from adapters.logreader import feed_record

log = structlog.get_logger("nats_relay")
_TOKEN = re.compile(r"[^A-Za-z0-9_-]")


class TrackingDatabase(Protocol):
    """Where the relay keeps its position: the view database (projections.db), by its shape."""

    def transaction(self) -> Any: ...  # a context manager yielding a cursor with %s placeholders


class RelayUnavailable(Exception):
    """NATS could not be reached or refused the stream."""


def subject_token(value: str) -> str:
    """A subject token: NATS splits on '.', and '*' '>' are wildcards, so anything else becomes '_'."""
    return _TOKEN.sub("_", value) or "_"


@dataclass
class RelayConfig:
    url: str
    stream: str = "LEDGER"
    prefix: str = "ledger"
    name: str = "nats_relay"  # its row in projection_tracking
    duplicate_window: float = 3600.0  # seconds; must outlast the longest crash-and-restart
    page: int = 200
    replicas: int = 1  # copies of the stream a JetStream cluster keeps (3 survives losing a node)

    def servers(self) -> list[str]:
        """`url` may name every node of a cluster, comma-separated (NATS's own convention)."""
        return [u.strip() for u in self.url.split(",") if u.strip()]


class NatsRelay:
    def __init__(
        self,
        store: LedgerStore,
        db: TrackingDatabase,
        config: RelayConfig,
        after_publish: Callable[[int], None] | None = None,
    ) -> None:
        self.store, self.db, self.config = store, db, config
        self.after_publish = after_publish  # observes each acknowledged publish (progress, tests)
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None

    async def connect(self) -> None:
        try:
            self._nc = await nats.connect(self.config.servers(), connect_timeout=5, max_reconnect_attempts=3)
            self._js = self._nc.jetstream()
            await self._ensure_stream()
        except (OSError, nats.errors.Error) as exc:
            raise RelayUnavailable(f"NATS at {self.config.url}: {exc}") from exc
        await asyncio.to_thread(self._ensure_tracking)

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = None

    async def _ensure_stream(self) -> None:
        assert self._js is not None
        try:
            info = await self._js.stream_info(self.config.stream)
        except NotFoundError:
            await self._js.add_stream(
                StreamConfig(
                    name=self.config.stream,
                    subjects=[f"{self.config.prefix}.>"],
                    duplicate_window=self.config.duplicate_window,
                    num_replicas=self.config.replicas,
                )
            )
            return
        await self._widen_duplicate_window(info.config)

    async def _widen_duplicate_window(self, existing: StreamConfig) -> None:
        """A stream made earlier (by hand, or by a relay with a shorter window) may forget message
        ids sooner than a restart takes, and then a replayed page is stored twice: raise its window."""
        assert self._js is not None
        current = existing.duplicate_window or 0.0
        if current >= self.config.duplicate_window:
            return
        existing.duplicate_window = self.config.duplicate_window
        try:
            await self._js.update_stream(existing)
        except nats.errors.Error as exc:
            raise RelayUnavailable(
                f"stream {self.config.stream} keeps duplicates for {current:g}s, shorter than the "
                f"relay's {self.config.duplicate_window:g}s, and could not be updated: {exc}"
            ) from exc
        log.warning(
            "nats_relay.duplicate_window_raised",
            stream=self.config.stream,
            from_s=current,
            to_s=self.config.duplicate_window,
        )

    def _ensure_tracking(self) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS projection_tracking ("
                " name TEXT PRIMARY KEY, position BIGINT NOT NULL, updated_at TEXT)"
            )
            cursor.execute(
                "INSERT INTO projection_tracking (name, position) VALUES (%s, 0) "
                "ON CONFLICT (name) DO NOTHING",
                (self.config.name,),
            )

    def position(self) -> int:
        with self.db.transaction() as cursor:
            cursor.execute("SELECT position FROM projection_tracking WHERE name = %s", (self.config.name,))
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def _save(self, position: int) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(
                "UPDATE projection_tracking SET position = %s WHERE name = %s AND position < %s",
                (position, self.config.name, position),
            )

    def subject(self, record: dict[str, object]) -> str:
        return ".".join(
            [
                self.config.prefix,
                subject_token(str(record["organization_id"])),
                subject_token(str(record["aggregate_type"])),
                subject_token(str(record["type"])),
            ]
        )

    async def relay_page(self) -> int:
        """Publish the next page after the tracked position; returns how many were published."""
        assert self._js is not None, "connect() first"
        after = await asyncio.to_thread(self.position)
        batch = await asyncio.to_thread(self.store.notifications, after, self.config.page)
        for n in batch:
            record = feed_record(n.id, decode_notification(n))
            await self._js.publish(
                self.subject(record),
                json.dumps(record, separators=(",", ":")).encode(),
                stream=self.config.stream,
                headers={"Nats-Msg-Id": str(record["id"]), "Ledger-Position": str(n.id)},
            )
            if self.after_publish is not None:
                self.after_publish(n.id)
        if batch:
            await asyncio.to_thread(self._save, batch[-1].id)
        return len(batch)

    async def catch_up(self) -> int:
        total = 0
        while (count := await self.relay_page()) > 0:
            total += count
            if count < self.config.page:
                break
        return total
