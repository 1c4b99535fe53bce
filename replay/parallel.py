"""Fill a rebuild's table with several processes, each folding its share of the aggregates.

Only for projections whose rows each depend on one aggregate's own events (`partition_safe`), such as
order status: process k of n applies the events whose aggregate id ≡ k (mod n), reading the log with
its own connections, so decoding and folding use every core. Each share pages under its own tracking
row; the caller then continues single-threaded from the position all shares reached.
"""

from __future__ import annotations

import importlib
import multiprocessing
from typing import Any

from adapters.eventlog import is_postgres
from adapters.eventstore import LedgerStore
from projections.db import PostgresViews, ViewDatabase
from projections.runner import Projection, apply_page


def can_partition(store: LedgerStore, db: ViewDatabase, projection: Projection) -> bool:
    return (
        bool(getattr(projection, "partition_safe", False))
        and isinstance(db, PostgresViews)
        and is_postgres(store)
    )


def _share(
    env: dict[str, str],
    conninfo: str,
    cls: tuple[str, str],
    table: str,
    tracking: str,
    k: int,
    n: int,
    stop: int,
    page: int,
) -> int:
    store = LedgerStore(env=env)
    views = PostgresViews(conninfo, max_size=2)
    projection: Any = getattr(importlib.import_module(cls[0]), cls[1])(store, table)
    projection.partition = (k, n)
    applied = 0
    try:
        while True:
            with views.transaction() as cur:
                count, exhausted = apply_page(
                    cur, store, projection, f"{tracking}#{k}", page=page, kind="postgres", stop=stop
                )
            applied += count
            if exhausted:
                return applied
    finally:
        views.close()
        store.close()


def fill_partitioned(
    store: LedgerStore,
    db: PostgresViews,
    shadow: Projection,
    tracking: str,
    *,
    workers: int,
    stop: int,
    page: int,
) -> int:
    """Fill `shadow` up to `stop` with `workers` processes; leaves `tracking` at `stop`."""
    # The tables exist already; concurrent CREATE TABLE IF NOT EXISTS from the shares would race.
    env = {**{str(k): str(v) for k, v in store.env.items()}, "CREATE_TABLE": "n"}
    cls = (type(shadow).__module__, type(shadow).__qualname__)
    table: str = shadow.table  # type: ignore[attr-defined]
    args = [(env, db.conninfo, cls, table, tracking, k, workers, stop, page) for k in range(workers)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        applied = sum(pool.starmap(_share, args))
    with db.transaction() as cur:
        cur.execute("UPDATE projection_tracking SET position = %s WHERE name = %s", (stop, tracking))
        for k in range(workers):
            cur.execute("DELETE FROM projection_tracking WHERE name = %s", (f"{tracking}#{k}",))
    return applied
