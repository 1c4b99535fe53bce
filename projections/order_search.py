"""The one index of orders by number and by patient: CS search (`GET /cs/orders?q=`, the console's
search box), a patient's orders (`GET /patients/{id}/orders`) and an order named by its number
(`replay.order_ref`) all read it.

Two small versioned read models (rebuildable beside the live view):
- `patient_index`: one row per patient with its name and e-mail, and lower-cased keys to match on;
- `order_search`: one row per order with its patient, number, the original's number when it is a
  refill, and what the CS kind label is made of (source context, cycle number).
A search joins them with `order_status` for each order's current status. Newest orders first, paged
by their log position (`after`), which is unique and never changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.events import Recorded
from domain.orders import OrderPlaced
from domain.parties import PatientRegistered
from projections.db import Cursor, ViewDatabase


def search_key(text: str) -> str:
    """How names and e-mails are compared: case and surrounding blanks do not matter."""
    return " ".join(text.casefold().split())


class PatientIndex:
    name = "patient_index"
    view = "patient_index"
    topics: tuple[str, ...] = ("PatientRegistered",)
    compare_ignores = ("position",)
    column_names = ("patient_id", "organization_id", "name", "email", "name_key", "email_key", "position")

    def __init__(self, table: str = "patient_index_g1") -> None:
        self.table = table

    def with_table(self, table: str) -> PatientIndex:
        return PatientIndex(table)

    def schema(self) -> Sequence[str]:
        t = self.table
        return [
            f"CREATE TABLE IF NOT EXISTS {t} ("
            " patient_id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, name TEXT NOT NULL,"
            " email TEXT NOT NULL, name_key TEXT NOT NULL, email_key TEXT NOT NULL,"
            " position BIGINT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {t}_email ON {t} (organization_id, email_key)",
        ]

    def apply(self, cursor: Cursor, event: Recorded, position: int) -> None:
        fact = event.fact
        assert isinstance(fact, PatientRegistered)
        cursor.execute(  # the table name is ours, never input
            f"INSERT INTO {self.table} (patient_id, organization_id, name, email, name_key, email_key,"  # noqa: S608
            " position) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (patient_id) DO NOTHING",
            (
                str(event.originator_id),
                event.meta.organization_id,
                fact.name,
                fact.email,
                search_key(fact.name),
                search_key(fact.email),
                position,
            ),
        )


class OrderSearch:
    name = "order_search"
    view = "order_search"
    topics: tuple[str, ...] = ("OrderPlaced",)
    compare_ignores = ("position",)
    column_names = (
        "order_id",
        "organization_id",
        "patient_id",
        "number",
        "refill_of_number",
        "source_context",
        "cycle_number",
        "placed_at",
        "position",
    )

    def __init__(self, table: str = "order_search_g1") -> None:
        self.table = table

    def with_table(self, table: str) -> OrderSearch:
        return OrderSearch(table)

    def schema(self) -> Sequence[str]:
        t = self.table
        return [
            f"CREATE TABLE IF NOT EXISTS {t} ("
            " order_id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, patient_id TEXT NOT NULL,"
            " number TEXT NOT NULL, refill_of_number TEXT, source_context TEXT NOT NULL,"
            " cycle_number INTEGER, placed_at TEXT NOT NULL, position BIGINT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {t}_number ON {t} (organization_id, number)",
            f"CREATE INDEX IF NOT EXISTS {t}_refill_of ON {t} (organization_id, refill_of_number)",
            f"CREATE INDEX IF NOT EXISTS {t}_patient ON {t} (patient_id, position)",
        ]

    def apply(self, cursor: Cursor, event: Recorded, position: int) -> None:
        fact = event.fact
        assert isinstance(fact, OrderPlaced)
        cursor.execute(
            f"INSERT INTO {self.table} (order_id, organization_id, patient_id, number, refill_of_number,"  # noqa: S608
            " source_context, cycle_number, placed_at, position) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (order_id) DO NOTHING",
            (
                str(event.originator_id),
                event.meta.organization_id,
                fact.patient_id,
                fact.number,
                fact.refill_of_order_number,
                fact.source_context,
                fact.cycle_number,
                fact.placed_at.isoformat(),
                position,
            ),
        )


@dataclass(frozen=True)
class OrderRow:
    """One order found, with what CS needs to pick the right one from a list."""

    order_id: str
    number: str
    patient_id: str
    patient_name: str | None
    patient_email: str | None
    status: str | None  # None while `order_status` has not caught up
    source_context: str
    refill_of_number: str | None
    cycle_number: int | None
    placed_at: str
    position: int


_SELECT = (
    "SELECT o.order_id, o.number, o.patient_id, p.name, p.email, s.status, o.source_context,"
    " o.refill_of_number, o.cycle_number, o.placed_at, o.position FROM order_search o"
    " LEFT JOIN patient_index p ON p.patient_id = o.patient_id"
    " LEFT JOIN order_status s ON s.order_id = o.order_id"
    " WHERE o.organization_id = %s AND o.position < %s AND "
)


def _rows(db: ViewDatabase, where: str, params: Sequence[object], limit: int) -> list[OrderRow]:
    with db.transaction() as cur:
        cur.execute(_SELECT + where + " ORDER BY o.position DESC LIMIT %s", (*params, limit))
        found = cur.fetchall()
    return [
        OrderRow(
            str(r[0]),
            str(r[1]),
            str(r[2]),
            r[3],
            r[4],
            r[5],
            str(r[6]),
            r[7],
            None if r[8] is None else int(r[8]),
            str(r[9]),
            int(r[10]),
        )
        for r in found
    ]


NO_CURSOR = 2**62  # "before every position": the first page


def by_number(db: ViewDatabase, org: str, number: str, *, before: int, limit: int) -> list[OrderRow]:
    """The order with this number and every refill of it."""
    where = "(o.number = %s OR o.refill_of_number = %s)"
    return _rows(db, where, (org, before, number, number), limit)


def by_email(db: ViewDatabase, org: str, email: str, *, before: int, limit: int) -> list[OrderRow]:
    where = (
        "o.patient_id IN (SELECT patient_id FROM patient_index WHERE organization_id = %s AND email_key = %s)"
    )
    return _rows(db, where, (org, before, org, search_key(email)), limit)


def by_name(db: ViewDatabase, org: str, words: Sequence[str], *, before: int, limit: int) -> list[OrderRow]:
    """Orders of patients whose name contains every word (in any order, any case)."""
    likes = " AND ".join(["name_key LIKE %s ESCAPE '!'"] * len(words))
    # Only placeholders are joined in; the words themselves are parameters.
    where = f"o.patient_id IN (SELECT patient_id FROM patient_index WHERE organization_id = %s AND {likes})"  # noqa: S608
    patterns = ["%" + _escape_like(search_key(w)) + "%" for w in words]
    return _rows(db, where, (org, before, org, *patterns), limit)


def orders_of_patient(db: ViewDatabase, org: str, patient_id: str) -> list[str]:
    """A patient's order ids, most recently placed first."""
    with db.transaction() as cur:
        cur.execute(
            "SELECT order_id FROM order_search WHERE organization_id = %s AND patient_id = %s"
            " ORDER BY placed_at DESC, position DESC",
            (org, patient_id),
        )
        return [str(row[0]) for row in cur.fetchall()]


def order_id_by_number(db: ViewDatabase, org: str, number: str) -> str | None:
    with db.transaction() as cur:
        cur.execute(
            "SELECT order_id FROM order_search WHERE organization_id = %s AND number = %s", (org, number)
        )
        row = cur.fetchone()
    return None if row is None else str(row[0])


def _escape_like(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
