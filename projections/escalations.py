"""The escalation queue: one row per escalation raised, marked when resolved (`GET /cs/escalations`).

Fed by `EscalationRaised` / `EscalationResolved` only; paged by the raise's log position, so "oldest
open first" is the order they were raised in and a page boundary never moves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.escalations import Details, EscalationRaised, EscalationResolved
from domain.events import Recorded
from projections.db import Cursor, ViewDatabase


class EscalationsProjection:
    name = "escalations"
    view = "escalations"
    topics: tuple[str, ...] = ("EscalationRaised", "EscalationResolved")
    compare_ignores = ("position",)
    column_names = (
        "escalation_id",
        "organization_id",
        "order_id",
        "order_number",
        "patient_id",
        "kind",
        "details",
        "raised_at",
        "resolved_at",
        "position",
    )

    def __init__(self, table: str = "escalations_g1") -> None:
        self.table = table

    def with_table(self, table: str) -> EscalationsProjection:
        return EscalationsProjection(table)

    def schema(self) -> Sequence[str]:
        t = self.table
        return [
            f"CREATE TABLE IF NOT EXISTS {t} ("
            " escalation_id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, order_id TEXT NOT NULL,"
            " order_number TEXT NOT NULL, patient_id TEXT NOT NULL, kind TEXT NOT NULL,"
            " details TEXT NOT NULL, raised_at TEXT NOT NULL, resolved_at TEXT, position BIGINT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {t}_open ON {t} (organization_id, resolved_at, position)",
            f"CREATE INDEX IF NOT EXISTS {t}_order ON {t} (order_id)",
        ]

    def apply(self, cursor: Cursor, event: Recorded, position: int) -> None:
        fact = event.fact
        if isinstance(fact, EscalationRaised):
            cursor.execute(  # the table name is ours, never input
                f"INSERT INTO {self.table} ({', '.join(self.column_names)})"  # noqa: S608
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, NULL, %s) ON CONFLICT (escalation_id) DO NOTHING",
                (
                    fact.escalation_id,
                    event.meta.organization_id,
                    fact.order_id,
                    fact.order_number,
                    fact.patient_id,
                    fact.kind,
                    fact.details.model_dump_json(),
                    fact.raised_at.isoformat(),
                    position,
                ),
            )
        elif isinstance(fact, EscalationResolved):
            cursor.execute(
                f"UPDATE {self.table} SET resolved_at = %s WHERE escalation_id = %s",  # noqa: S608
                (fact.resolved_at.isoformat(), fact.escalation_id),
            )


@dataclass(frozen=True)
class EscalationRow:
    escalation_id: str
    order_id: str
    order_number: str
    patient_id: str
    kind: str
    details: Details
    raised_at: datetime
    resolved_at: datetime | None
    position: int


_COLUMNS = (
    "escalation_id, order_id, order_number, patient_id, kind, details, raised_at, resolved_at, position"
)


def _row(r: Sequence[Any]) -> EscalationRow:
    return EscalationRow(
        str(r[0]),
        str(r[1]),
        str(r[2]),
        str(r[3]),
        str(r[4]),
        Details.model_validate(json.loads(r[5])),
        datetime.fromisoformat(str(r[6])),
        datetime.fromisoformat(str(r[7])) if r[7] else None,
        int(r[8]),
    )


def list_escalations(
    db: ViewDatabase,
    organization_id: str,
    *,
    state: str = "open",
    kind: str | None = None,
    raised_before: datetime | None = None,
    order_id: str | None = None,
    after: int = 0,
    limit: int = 50,
) -> tuple[list[EscalationRow], int]:
    """(one page oldest first, how many match in all)."""
    where = ["organization_id = %s", "resolved_at IS NULL" if state == "open" else "resolved_at IS NOT NULL"]
    params: list[Any] = [organization_id]
    for column, value in (("kind", kind), ("order_id", order_id)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if raised_before is not None:
        where.append("raised_at < %s")
        params.append(raised_before.isoformat())
    clause = " AND ".join(where)
    with db.transaction() as cur:
        cur.execute(f"SELECT COUNT(*) FROM escalations WHERE {clause}", params)  # noqa: S608
        count = cur.fetchone()
        cur.execute(
            f"SELECT {_COLUMNS} FROM escalations WHERE {clause} AND position > %s"  # noqa: S608
            " ORDER BY position LIMIT %s",
            [*params, after, limit],
        )
        rows = [_row(r) for r in cur.fetchall()]
    return rows, int(count[0]) if count else 0
