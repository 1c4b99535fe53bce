"""Clocks handed to the ledger: the system's, or one that starts at a chosen instant and runs on.

Nothing below `service/` reads the time itself; the bootstrap picks a clock from the settings
(`LEDGER_NOW` in a local environment starts the ledger's clock there) and hands it to `Deps`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class StartedAt:
    """A clock that reads `start` at construction and runs on at the system's pace from there."""

    def __init__(self, start: datetime) -> None:
        self._start = start.astimezone(UTC)
        self._origin = time.monotonic()

    def __call__(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._origin)
