"""A projection worker run as a subprocess and SIGKILLed in the middle of a page (see test_worker_crash).

`python -m tests.support_views.crash_worker <projection> <var_dir> [<database_url>]` prints MID-PAGE once it
has applied half of its third page, inside that page's open transaction, and then sleeps.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from adapters.eventstore import LedgerStore
from domain.events import Recorded
from ledger.bootstrap import build_views
from projections.db import Cursor
from projections.order_status import OrderStatusProjection
from projections.runner import Projection, catch_up, ensure_schema
from tests.support_views.world import settings_for

PAGE = 5


class CrashStatus(OrderStatusProjection):
    name = "crash_status"
    view = "crash_status"


class EventCopy:
    """Append-only: one row per event, no key, so a page applied twice shows up as duplicates."""

    name = "crash_copy"
    topics: tuple[str, ...] = ()

    def schema(self) -> Sequence[str]:
        return ["CREATE TABLE IF NOT EXISTS crash_copy (position BIGINT NOT NULL, type TEXT NOT NULL)"]

    def apply(self, cursor: Cursor, event: Recorded, position: int) -> None:
        cursor.execute("INSERT INTO crash_copy (position, type) VALUES (%s, %s)", (position, event.type))


class Stalling:
    """Wraps a projection: on its third page, applies half, says so, and hangs until killed."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.pages = inner, 0
        self.name, self.topics = inner.name, inner.topics

    def schema(self) -> Sequence[str]:
        return self.inner.schema()  # type: ignore[no-any-return]

    def apply_page(self, cursor: Cursor, events: Sequence[tuple[Recorded, int]]) -> None:
        self.pages += 1
        half = len(events) // 2
        if self.pages == 3:
            self._apply(cursor, events[:half])
            print("MID-PAGE", flush=True)
            time.sleep(120)
        self._apply(cursor, events)

    def _apply(self, cursor: Cursor, events: Sequence[tuple[Recorded, int]]) -> None:
        many = getattr(self.inner, "apply_page", None)
        if many is not None:
            many(cursor, events)
        else:
            for event, position in events:
                self.inner.apply(cursor, event, position)


def projections(store: LedgerStore) -> list[Any]:
    return [CrashStatus(store, "crash_status_g1"), EventCopy()]


def main(name: str, var_dir: str, database_url: str | None) -> None:
    settings = settings_for(Path(var_dir), database_url)
    store = LedgerStore(env=settings.store_env())
    views = build_views(settings)
    ensure_schema(views, projections(store))
    victim = next(p for p in projections(store) if p.name == name)
    catch_up(store, views, cast(Projection, Stalling(victim)), page=PAGE)
    print("FINISHED", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
