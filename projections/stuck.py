"""Orders not moving: their status, since when, the blocking cause and the action that clears it.

One row per open order (closed and delivered orders leave the table); how long it has been stuck is
computed when read, from `since` (when the status or the blocking cause last changed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from domain.events import Recorded
from domain.explain import Blocker, blockers
from domain.invoices import Invoice
from domain.orders import Order
from domain.status import order_status
from projections.db import ViewDatabase
from projections.folding import OrderRowProjection


class StuckOrdersProjection(OrderRowProjection):
    name = "stuck_orders"
    view = "stuck_orders"
    aggregates = ("order", "invoice")
    columns = (
        ("organization_id", "TEXT NOT NULL"),
        ("number", "TEXT NOT NULL"),
        ("patient_id", "TEXT NOT NULL"),
        ("status", "TEXT NOT NULL"),
        ("since", "TEXT NOT NULL"),
        ("blocker_code", "TEXT NOT NULL"),
        ("blocker", "TEXT NOT NULL"),  # the typed blocker as JSON; the API puts it into words
        ("needs_action", "INTEGER NOT NULL"),
    )
    indexes = ("organization_id, since",)
    upsert_overrides = {
        "since": "CASE WHEN t.status = excluded.status AND t.blocker_code = excluded.blocker_code"
        " THEN t.since ELSE excluded.since END"
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keys: dict[str, tuple[str, str]] = {}
        self._changed_at: dict[str, str] = {}

    def observe(self, order_id: str, event: Recorded, before: Any, after: Any) -> None:
        # When the status or the blocking cause changes, the wait starts again; the first touch in a page
        # counts as a change, and the upsert keeps the row's `since` if nothing actually changed.
        order: Order | None = self.cache.get("order", order_id)
        if order is None:
            return
        waiting = blockers(order, self.cache.get("invoice", order.placed.invoice_id))
        key = (order_status(order), waiting[0].code if waiting else "")
        if self._keys.get(order_id) != key:
            self._keys[order_id] = key
            self._changed_at[order_id] = event.meta.occurred_at.isoformat()

    def page_done(self) -> None:
        self._keys.clear()
        self._changed_at.clear()

    def affected(self, event: Recorded, before: Any, after: Any) -> Iterable[str]:
        if isinstance(after, Invoice):
            return after.issued.order_ids
        return [after.id] if isinstance(after, Order) else []

    def row(self, order_id: str, last: Recorded) -> tuple[Any, ...] | None:
        order: Order | None = self.cache.get("order", order_id)
        if order is None:
            return None
        waiting = blockers(order, self.cache.get("invoice", order.placed.invoice_id))
        if not waiting:
            return None
        first = waiting[0]
        return (
            last.meta.organization_id,
            order.number,
            order.patient_id,
            order_status(order),
            self._changed_at.get(order_id, last.meta.occurred_at.isoformat()),
            first.code,
            json.dumps(asdict(first)),
            int(first.needs_action),
        )


def stuck_orders(
    db: ViewDatabase,
    organization_id: str,
    now: datetime,
    *,
    min_age_seconds: float = 0,
    only_action: bool = False,
    limit: int = 200,
    payment_overdue_after_s: float | None = None,
) -> list[dict[str, Any]]:
    """Open orders, oldest first, that waited at least `min_age_seconds` in their status and cause.

    A payment still without an outcome after `payment_overdue_after_s` needs action: the reconciler
    re-drives an attempt once it is stale, so one still pending much later could not be settled
    (the gateway is unreachable, the card is gone) and a person must look."""
    with db.transaction() as cur:
        cur.execute(
            "SELECT order_id, number, patient_id, status, since, blocker_code, blocker, needs_action"
            " FROM stuck_orders WHERE organization_id = %s ORDER BY since LIMIT %s",
            (organization_id, limit * 5),
        )
        rows = cur.fetchall()
    found = []
    for order_id, number, patient_id, status, since, code, blocker, action in rows:
        age = (now - datetime.fromisoformat(str(since))).total_seconds()
        if code == "PAYMENT_IN_PROGRESS" and payment_overdue_after_s is not None:
            action = action or age >= payment_overdue_after_s
        if age < min_age_seconds or (only_action and not action):
            continue
        found.append(
            {
                "order_id": order_id,
                "order_number": number,
                "patient_id": patient_id,
                "status": status,
                "since": since,
                "age_seconds": round(age, 1),
                "blocking_code": code,
                "blocker": json.loads(blocker),
                "needs_action": bool(action),
            }
        )
    return found[:limit]


def orders_waiting_on_payment(db: ViewDatabase, since_before: datetime) -> list[tuple[str, str]]:
    """(organization id, order id) of open orders whose charge has had no outcome since before then."""
    with db.transaction() as cur:
        cur.execute(
            "SELECT organization_id, order_id FROM stuck_orders WHERE blocker_code = %s AND since < %s",
            ("PAYMENT_IN_PROGRESS", since_before.isoformat()),
        )
        return [(str(org), str(oid)) for org, oid in cur.fetchall()]


@dataclass(frozen=True)
class StuckRow:
    order_id: str
    number: str
    patient_id: str
    status: str
    since: datetime
    blocker: Blocker
    needs_action: bool


PageCursor = tuple[str, str]  # (since, order_id) of the last row of the previous page


def cursor_of(row: StuckRow) -> str:
    return f"{row.since.isoformat()}|{row.order_id}"


def parse_cursor(text: str | None) -> PageCursor | None:
    """`after` as given back by `cursor_of`; anything else is a bad request (ValueError)."""
    if text is None:
        return None
    since, sep, order_id = text.partition("|")
    if not sep or not order_id:
        raise ValueError("not a page cursor")
    return datetime.fromisoformat(since).isoformat(), order_id


_BLOCKER_FIELDS = frozenset(f.name for f in fields(Blocker))


def stuck_page(
    db: ViewDatabase,
    organization_id: str,
    *,
    code: str | None = None,
    status: str | None = None,
    since_before: datetime | None = None,
    only_action: bool = False,
    payment_overdue_before: datetime | None = None,
    after: PageCursor | None = None,
    limit: int = 50,
) -> tuple[list[StuckRow], int]:
    """(one page, longest stuck first, and how many match in all); keyset-paged on (since, order id)."""
    where, params = ["organization_id = %s"], [organization_id]
    for column, value in (("blocker_code", code), ("status", status)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if since_before is not None:
        where.append("since < %s")
        params.append(since_before.isoformat())
    if only_action:  # a payment pending since before `payment_overdue_before` needs a person too
        overdue = (payment_overdue_before or datetime.min).isoformat()
        where.append("(needs_action = 1 OR (blocker_code = 'PAYMENT_IN_PROGRESS' AND since < %s))")
        params.append(overdue)
    clause = " AND ".join(where)
    page_clause, page_params = clause, list(params)
    if after is not None:
        page_clause += " AND (since > %s OR (since = %s AND order_id > %s))"
        page_params += [after[0], after[0], after[1]]
    with db.transaction() as cur:
        cur.execute(f"SELECT COUNT(*) FROM stuck_orders WHERE {clause}", params)  # noqa: S608
        count = cur.fetchone()
        cur.execute(
            "SELECT order_id, number, patient_id, status, since, blocker, needs_action"  # noqa: S608
            f" FROM stuck_orders WHERE {page_clause} ORDER BY since, order_id LIMIT %s",
            [*page_params, limit],
        )
        rows = cur.fetchall()
    found = [
        StuckRow(
            str(order_id),
            str(number),
            str(patient_id),
            str(status_),
            datetime.fromisoformat(str(since)),
            Blocker(**{k: v for k, v in json.loads(blocker).items() if k in _BLOCKER_FIELDS}),
            bool(action),
        )
        for order_id, number, patient_id, status_, since, blocker, action in rows
    ]
    return found, int(count[0]) if count else 0
