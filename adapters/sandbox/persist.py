"""Keep a vendor sandbox's state in a JSON file, so the demo's Beluga and pharmacies remember their
visits and orders across `ledger serve` restarts (as the real vendors would).

The sandboxes keep their state in memory (`app.state.sandbox`); this wrapper loads the named fields
from the file at start and writes them back after every request that may have changed them. The
write goes to a temporary file that replaces the old one, so a crash mid-write never leaves half a
file behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

_TUPLE_KEYS = "__tuple_keys__"


def _encode(value: Any) -> Any:
    # The pharmacy sandbox keys its orders by (partner, reference): JSON objects need string keys.
    if isinstance(value, dict) and any(isinstance(k, tuple) for k in value):
        return {_TUPLE_KEYS: [[list(k), v] for k, v in value.items()]}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {_TUPLE_KEYS}:
        return {tuple(k): v for k, v in value[_TUPLE_KEYS]}
    return value


class PersistedSandbox:
    """An ASGI wrapper around a sandbox app that keeps `fields` of its state in `path`."""

    def __init__(self, app: Starlette, path: Path, fields: Sequence[str]) -> None:
        self.app, self.path, self.fields = app, path, tuple(fields)
        self.state = app.state.sandbox
        self.load()

    def load(self) -> None:
        if not self.path.exists():
            return
        saved = json.loads(self.path.read_text())
        with self.state.lock:
            for name in self.fields:
                if name in saved:
                    setattr(self.state, name, _decode(saved[name]))

    def save(self) -> None:
        with self.state.lock:
            data = {name: _encode(getattr(self.state, name)) for name in self.fields}
            text = json.dumps(data, default=str)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(text)
        os.replace(partial, self.path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http" and scope.get("method") != "GET":
            self.save()
