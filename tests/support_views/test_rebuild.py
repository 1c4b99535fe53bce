"""Rebuild beside the live view then swap; drift check; the worker on both stores; lag."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from api.auth import issue_token
from projections.runner import catch_up, position_of
from projections.worker import ProjectionWorker, lag_of
from replay.rebuild import Progress, drift, rebuild
from tests.support_views.world import ORG, SECRET, World, world


def _rows(w: World, view: str) -> dict[str, tuple[object, ...]]:
    with w.runtime.views.transaction() as cur:
        cur.execute(f"SELECT * FROM {view}")
        return {str(r[0]): tuple(r) for r in cur.fetchall()}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def built(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    with world(tmp_path, url) as w:
        yield w


def test_rebuild_swaps_generations_and_keeps_rows(built: World) -> None:
    store, views = built.runtime.deps.store, built.runtime.views
    for p in built.runtime.projections:
        catch_up(store, views, p)
    for name in ("cs_orders", "order_status", "stuck_orders", "order_search"):
        projection = built.runtime.projection(name)
        before = _rows(built, name)
        seen: list[str] = []

        def note(progress: Progress, seen: list[str] = seen) -> None:
            seen.append(progress.phase)

        result = rebuild(store, views, projection, page=7, report=note)
        assert result.generation == 2
        assert result.table == f"{name}_g2"
        assert seen[0] == "filling"
        assert seen[-1] == "done"
        assert _rows(built, name) == before  # same rows, now served from the new generation
        assert position_of(views, name) == store.last_position()
        assert drift(store, views, projection).clean
    # The live projection follows the swap: new events land in generation 2.
    built.cs("failed_refill")
    with views.transaction() as cur:
        cur.execute("SELECT table_name FROM projection_generations WHERE name = 'cs_orders'")
        assert cur.fetchone() == ("cs_orders_g2",)


def test_drift_lists_a_tampered_row(built: World) -> None:
    store, views = built.runtime.deps.store, built.runtime.views
    projection = built.runtime.projection("order_status")
    catch_up(store, views, projection)
    order_id = built.orders["paid_refill"]
    with views.transaction() as cur:
        cur.execute("UPDATE order_status_g1 SET status = 'SHIPPED' WHERE order_id = %s", (order_id,))
        cur.execute("DELETE FROM order_status_g1 WHERE order_id = %s", (built.orders["unpaid"],))
    report = drift(store, views, projection)
    assert not report.clean
    assert report.missing == [built.orders["unpaid"]]
    assert report.changed == [
        {"key": order_id, "column": "status", "live": "SHIPPED", "rebuilt": "AWAITING_REQUIREMENTS"}
    ]


def test_rebuild_over_http_while_the_view_answers(built: World) -> None:
    token = issue_token(
        SECRET,
        role="ops",
        subject=None,
        organization_id=ORG,
        now=__import__("datetime").datetime.now(__import__("datetime").UTC),
    )
    headers = {"Authorization": f"Bearer {token}"}
    r = built.client.post("/ops/projections/cs_orders/rebuild", headers=headers)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30
    while True:
        assert built.cs("paid_refill")["status"] == "AWAITING_REQUIREMENTS"  # served throughout
        listed = {p["name"]: p for p in built.get("/ops/projections", role="ops")["projections"]}
        if listed["cs_orders"]["rebuild"]["phase"] == "done":
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert listed["cs_orders"]["events_behind"] == 0
    assert built.client.post("/ops/projections/nope/rebuild", headers=headers).status_code == 404


def test_worker_follows_the_log_and_reports_lag(built: World) -> None:
    store, views = built.runtime.deps.store, built.runtime.views
    projection = built.runtime.projection("order_status")
    assert lag_of(store, views, projection).events_behind > 0  # nothing applied it yet
    worker = ProjectionWorker(store, views, built.runtime.projections, poll_interval=0.2).start()
    standby = ProjectionWorker(store, views, built.runtime.projections, poll_interval=0.2)
    try:
        assert worker.wait_caught_up(20)
        standby.run_once()
        if store_is_pg(built):
            assert standby.held == set()  # the advisory lock keeps one active worker per projection
        from tests.support_views.world import _refill

        order_id = _refill(built, "sharps_kit", "ada_declines", "late-refill")
        deadline = time.monotonic() + 10
        while order_id not in _rows(built, "order_status"):
            assert time.monotonic() < deadline, "the worker did not pick up the new order"
            time.sleep(0.05)
        lag = lag_of(store, views, projection)
        assert (lag.events_behind, lag.seconds_behind) == (0, 0.0)
    finally:
        worker.stop()
        standby._release()


def store_is_pg(w: World) -> bool:
    return w.runtime.views.kind == "postgres"
