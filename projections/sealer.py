"""The sealer: runs like a projection, linking every event into a hash chain and signing checkpoints.

Its rows (`event_chain`: position, event id, hash, previous hash) and its tracking position are
written in one transaction per page, so a crash never leaves a hole or a double link. Checkpoints
(`chain_checkpoints`) sign "position:hash" with the ledger's Ed25519 key: whoever rewrites history
and recomputes the chain still cannot re-sign it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.chain import GENESIS, Signer, checkpoint_message, link
from adapters.eventstore import LedgerStore
from adapters.logreader import RawEvent
from projections.db import Cursor, ViewDatabase
from projections.runner import TRACKING_DDL

NAME = "event_chain"
SCHEMA = (
    TRACKING_DDL,
    "CREATE TABLE IF NOT EXISTS event_chain (position BIGINT PRIMARY KEY, event_id TEXT NOT NULL,"
    " hash TEXT NOT NULL, prev_hash TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS event_chain_event_id ON event_chain (event_id)",
    "CREATE TABLE IF NOT EXISTS chain_checkpoints (position BIGINT PRIMARY KEY, hash TEXT NOT NULL,"
    " signature TEXT NOT NULL, key_id TEXT NOT NULL, created_at TEXT NOT NULL)",
)


@dataclass(frozen=True)
class Checkpoint:
    position: int
    hash: str
    signature: str
    key_id: str
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "hash": self.hash,
            "signature": self.signature,
            "key_id": self.key_id,
            "created_at": self.created_at,
        }


def ensure_chain_schema(db: ViewDatabase) -> None:
    with db.transaction() as cursor:
        for ddl in SCHEMA:
            cursor.execute(ddl)
        cursor.execute(
            "INSERT INTO projection_tracking (name, position) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING",
            (NAME,),
        )


def _head(cursor: Cursor, lock: bool) -> tuple[int, str]:
    lock_clause = " FOR UPDATE" if lock else ""
    cursor.execute(f"SELECT position FROM projection_tracking WHERE name = %s{lock_clause}", (NAME,))  # noqa: S608
    row = cursor.fetchone()
    position = int(row[0]) if row else 0
    if position == 0:
        return 0, GENESIS
    cursor.execute("SELECT hash FROM event_chain WHERE position = %s", (position,))
    found = cursor.fetchone()
    assert found is not None, "sealer tracking points past its own chain"
    return position, str(found[0])


def _insert_links(db: ViewDatabase, cursor: Any, rows: list[tuple[int, str, str, str]]) -> None:
    if db.kind == "postgres":
        # COPY: a million links in seconds rather than minutes.
        with cursor.copy("COPY event_chain (position, event_id, hash, prev_hash) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        cursor.executemany(
            "INSERT INTO event_chain (position, event_id, hash, prev_hash) VALUES (%s, %s, %s, %s)", rows
        )


def _sign(cursor: Cursor, signer: Signer, position: int, chain_hash: str) -> None:
    cursor.execute(
        "INSERT INTO chain_checkpoints (position, hash, signature, key_id, created_at)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (position) DO NOTHING",
        (
            position,
            chain_hash,
            signer.sign(checkpoint_message(position, chain_hash)),
            signer.verifier.key_id,
            datetime.now(UTC).isoformat(),
        ),
    )


def seal(
    store: LedgerStore,
    db: ViewDatabase,
    signer: Signer,
    *,
    page: int = 5000,
    checkpoint_every: int = 10_000,
    max_pages: int | None = None,
) -> int:
    """Link every unsealed event; sign a checkpoint every `checkpoint_every` positions and at the head."""
    sealed = pages = 0
    lock = db.kind == "postgres"
    while max_pages is None or pages < max_pages:
        with db.transaction() as cursor:
            position, prev = _head(cursor, lock)
            batch = store.recorder.select_notifications(start=position, limit=page, inclusive_of_start=False)
            rows = []
            for notification in batch:
                event = RawEvent.of(notification)
                chain_hash = link(prev, event.canonical())
                rows.append((event.position, event.event_id, chain_hash, prev))
                if event.position // checkpoint_every > position // checkpoint_every:
                    _sign(cursor, signer, event.position, chain_hash)
                prev, position = chain_hash, event.position
            if rows:
                _insert_links(db, cursor, rows)
                cursor.execute(
                    "UPDATE projection_tracking SET position = %s WHERE name = %s", (position, NAME)
                )
        sealed += len(batch)
        pages += 1
        if len(batch) < page:
            break
    if sealed:
        checkpoint_head(db, signer)
    return sealed


def checkpoint_head(db: ViewDatabase, signer: Signer) -> Checkpoint | None:
    """Sign the sealed head (once): exports and `ledger verify` anchor on the newest checkpoint."""
    with db.transaction() as cursor:
        position, chain_hash = _head(cursor, db.kind == "postgres")
        if position:
            _sign(cursor, signer, position, chain_hash)
    return latest_checkpoint(db)


def iter_chain(
    db: ViewDatabase, *, after: int = 0, stop: int | None = None, page: int = 20_000
) -> Iterator[tuple[int, str, str, str]]:
    """(position, event_id, hash, prev_hash) in position order, a page at a time."""
    while True:
        with db.transaction() as cursor:
            if stop is None:
                cursor.execute(
                    "SELECT position, event_id, hash, prev_hash FROM event_chain WHERE position > %s"
                    " ORDER BY position LIMIT %s",
                    (after, page),
                )
            else:
                cursor.execute(
                    "SELECT position, event_id, hash, prev_hash FROM event_chain WHERE position > %s"
                    " AND position <= %s ORDER BY position LIMIT %s",
                    (after, stop, page),
                )
            rows = cursor.fetchall()
        for row in rows:
            yield int(row[0]), str(row[1]), str(row[2]), str(row[3])
        if len(rows) < page:
            return
        after = int(rows[-1][0])


def all_checkpoints(db: ViewDatabase) -> list[Checkpoint]:
    with db.transaction() as cursor:
        cursor.execute(
            "SELECT position, hash, signature, key_id, created_at FROM chain_checkpoints ORDER BY position"
        )
        return [Checkpoint(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in cursor.fetchall()]


def latest_checkpoint(db: ViewDatabase, *, at_most: int | None = None) -> Checkpoint | None:
    with db.transaction() as cursor:
        if at_most is None:
            cursor.execute(
                "SELECT position, hash, signature, key_id, created_at FROM chain_checkpoints"
                " ORDER BY position DESC LIMIT 1"
            )
        else:
            cursor.execute(
                "SELECT position, hash, signature, key_id, created_at FROM chain_checkpoints"
                " WHERE position <= %s ORDER BY position DESC LIMIT 1",
                (at_most,),
            )
        row = cursor.fetchone()
    return Checkpoint(int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4])) if row else None


def sealed_position(db: ViewDatabase) -> int:
    with db.transaction() as cursor:
        return _head(cursor, False)[0]
