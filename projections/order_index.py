"""Which orders a patient has: the index behind `GET /patients/{id}/orders` and CS searches."""

from __future__ import annotations

from collections.abc import Sequence

from domain.events import Recorded
from domain.orders import OrderPlaced
from projections.db import Cursor, ViewDatabase


class OrderIndex:
    """Readers query the view `order_index`; rows live in a generation table (see projections.runner)."""

    name = "order_index"
    view = "order_index"
    topics: tuple[str, ...] = ("OrderPlaced",)
    compare_ignores = ("position",)
    column_names = (
        "order_id",
        "organization_id",
        "patient_id",
        "number",
        "source_context",
        "placed_at",
        "position",
    )

    def __init__(self, table: str = "order_index_g1") -> None:
        self.table = table

    def with_table(self, table: str) -> OrderIndex:
        return OrderIndex(table)

    def schema(self) -> Sequence[str]:
        t = self.table
        return [
            f"CREATE TABLE IF NOT EXISTS {t} ("
            " order_id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, patient_id TEXT NOT NULL,"
            " number TEXT NOT NULL, source_context TEXT NOT NULL, placed_at TEXT NOT NULL,"
            " position BIGINT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {t}_patient ON {t} (patient_id, placed_at)",
            f"CREATE INDEX IF NOT EXISTS {t}_number ON {t} (number)",
        ]

    def apply(self, cursor: Cursor, event: Recorded, position: int) -> None:
        fact = event.fact
        assert isinstance(fact, OrderPlaced)
        cursor.execute(  # the table name is ours, never input
            f"INSERT INTO {self.table} (order_id, organization_id, patient_id, number, source_context,"  # noqa: S608
            " placed_at, position) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (order_id) DO NOTHING",
            (
                str(event.originator_id),
                event.meta.organization_id,
                fact.patient_id,
                fact.number,
                fact.source_context,
                fact.placed_at.isoformat(),
                position,
            ),
        )


def orders_of_patient(db: ViewDatabase, organization_id: str, patient_id: str) -> list[str]:
    with db.transaction() as cursor:
        cursor.execute(
            "SELECT order_id FROM order_index WHERE organization_id = %s AND patient_id = %s"
            " ORDER BY placed_at DESC, position DESC",
            (organization_id, patient_id),
        )
        return [str(row[0]) for row in cursor.fetchall()]
