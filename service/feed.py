"""The global, ordered feed for subscribers: pages of the log after a position, one organization's only.

`next_after` is the last position *scanned*, not the last one returned: a page of another
organization's events still moves the subscriber on, and a subscriber that stores `next_after`
after handling a page resumes exactly where it stopped. On PostgreSQL the library serialises
writers with a table lock, so positions become visible in order and a reader never skips a
position that commits later.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from adapters.eventstore import LedgerStore, decode_notification
from domain.events import Recorded, UnknownEventType, all_event_types, is_bookkeeping


@dataclass(frozen=True)
class FeedPage:
    events: list[tuple[int, Recorded]]
    next_after: int
    scanned: int


def parse_types(raw: str | None) -> tuple[str, ...]:
    types = tuple(t.strip() for t in (raw or "").split(",") if t.strip())
    known = set(all_event_types())
    unknown = [t for t in types if t not in known]
    if unknown:
        raise UnknownEventType(", ".join(unknown))
    return types


def feed_page(
    store: LedgerStore, organization_id: str, after: int, limit: int, types: Sequence[str] = ()
) -> FeedPage:
    batch = store.notifications(after, limit, list(types))
    # Bookkeeping facts stay out unless the subscriber named them; positions still advance past them.
    wanted = [n for n in batch if types or not is_bookkeeping(n.topic)]
    events = [
        (n.id, decoded)
        for n in wanted
        if (decoded := decode_notification(n)).meta.organization_id == organization_id
    ]
    return FeedPage(events, batch[-1].id if batch else after, len(batch))


class Wakeup:
    """Wakes stream subscribers waiting in event loops when this process commits (others poll)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def notify(self, _position: int = 0) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that subscriber's loop has closed
                continue

    async def wait(self, timeout: float) -> None:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(entry)
        try:
            await asyncio.wait_for(entry[1].wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(entry)
