"""A projection whose page fails keeps its last error in the view database, for the ops pages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from domain.events import Recorded
from ledger.demo import seed
from projections.db import Cursor
from projections.errors import last_errors
from projections.runner import ensure_schema
from projections.worker import ProjectionWorker
from tests.support.app import ORG, running_ledger


class Refuses:
    """A projection that cannot apply an order placement (as a bad migration would)."""

    name = "refuses"
    topics: tuple[str, ...] = ("OrderPlaced",)

    def schema(self) -> Sequence[str]:
        return []

    def apply(self, cursor: Cursor, event: Recorded, position: int) -> None:
        raise ValueError(f"cannot apply event at position {position}")


def test_a_failing_projection_records_its_last_error_and_the_others_are_unaffected(tmp_path: Path) -> None:
    with running_ledger(tmp_path / "var") as ledger:
        rt = ledger.runtime
        seed(rt, ORG)
        broken = Refuses()
        ensure_schema(rt.views, [broken])
        worker = ProjectionWorker(rt.deps.store, rt.views, [*rt.projections, broken])
        with pytest.raises(ValueError, match="cannot apply"):
            worker.run_once()
        errors = last_errors(rt.views)
        assert set(errors) == {"refuses"}
        assert errors["refuses"].error == "ValueError" and "cannot apply" in errors["refuses"].message
        worker.projections = list(rt.projections)
        worker.run_once()  # the healthy ones catch up; the record stays, with its time
        assert set(last_errors(rt.views)) == {"refuses"}
