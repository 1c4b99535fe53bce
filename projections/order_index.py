"""Which orders a patient has: the index behind `GET /patients/{id}/orders` and CS searches."""

from __future__ import annotations

from collections.abc import Sequence

from domain.events import Recorded
from domain.orders import OrderPlaced
from projections.db import Cursor, ViewDatabase


class OrderIndex:
    name = "order_index"
    topics = ("OrderPlaced",)

    def schema(self) -> Sequence[str]:
        return [
            "CREATE TABLE IF NOT EXISTS order_index ("
            " order_id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, patient_id TEXT NOT NULL,"
            " number TEXT NOT NULL, source_context TEXT NOT NULL, placed_at TEXT NOT NULL,"
            " position BIGINT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS order_index_patient ON order_index (patient_id, placed_at)",
            "CREATE INDEX IF NOT EXISTS order_index_number ON order_index (number)",
        ]

    def apply(self, cursor: Cursor, event: Recorded, position: int) -> None:
        fact = event.fact
        assert isinstance(fact, OrderPlaced)
        cursor.execute(
            "INSERT INTO order_index (order_id, organization_id, patient_id, number, source_context,"
            " placed_at, position) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (order_id) DO NOTHING",
            (str(event.originator_id), event.meta.organization_id, fact.patient_id, fact.number,
             fact.source_context, fact.placed_at.isoformat(), position),
        )


def orders_of_patient(db: ViewDatabase, organization_id: str, patient_id: str) -> list[str]:
    with db.transaction() as cursor:
        cursor.execute("SELECT order_id FROM order_index WHERE organization_id = %s AND patient_id = %s"
                       " ORDER BY placed_at DESC, position DESC", (organization_id, patient_id))
        return [str(row[0]) for row in cursor.fetchall()]
