"""What the HTTP layer is handed by the bootstrap: services, read models and secrets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from projections.db import ViewDatabase
from projections.runner import Projection, catch_up
from service.deps import Deps


@dataclass
class Runtime:
    deps: Deps
    views: ViewDatabase
    projections: Sequence[Projection]
    token_secret: str
    webhook_secrets: dict[str, str] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)  # feature wiring (medical review, pharmacies…)
    on_shutdown: list[Callable[[], None]] = field(default_factory=list)

    def refresh_views(self) -> None:
        """Read-your-writes: bring every projection up to the log's head before a query."""
        for projection in self.projections:
            catch_up(self.deps.store, self.views, projection)

    def projection(self, name: str) -> Projection:
        return next(p for p in self.projections if p.name == name)
