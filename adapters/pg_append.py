"""The PostgreSQL append as one statement: the event table is locked only while the server runs it.

The library serialises every append behind `LOCK TABLE … IN EXCLUSIVE MODE` (so notification ids
commit in the order they are issued), then syncs its pipeline after the INSERT to read the ids and
only then sends COMMIT: the lock is held across a network round trip and, in a busy process, across
the returning thread's wait for the GIL (up to the 5 ms switch interval). Every writer of the ledger
queues behind that one lock, so each of them pays that wait: under load a refill spent most of its
time queued for the table lock, with the API process half idle.

Here one function call does what the library's transaction does, in the same order — the policy's
tracking row (refused when already recorded, as the library refuses it), the lock, NOTIFY, the
INSERT … RETURNING — and commits as the statement ends (the connection is in autocommit mode, as
the library keeps it). The lock is held only while PostgreSQL runs it, and the client sends one
statement with four plain arrays instead of a pipeline of six and an array of composites.
A stream that moved on (a duplicate version) or a tracked position already recorded raise a
unique violation, which the library's connection turns into its IntegrityError, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent, Tracking
from eventsourcing.postgres import PostgresFactory, PostgresProcessRecorder
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal


class OneStatementProcessRecorder(PostgresProcessRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = Identifier(self.datastore.schema)
        self.append_function = f"{self.events_table_name}_append"[: self.MAX_IDENTIFIER_LEN]
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{fn}(ids {id_type}[], versions bigint[], topics text[],"
                " states bytea[], tracking_name text, tracking_id bigint)"
                " RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$"
                " BEGIN"
                "   IF tracking_name IS NOT NULL THEN"
                "     INSERT INTO {schema}.{tracking} AS t VALUES (tracking_name, tracking_id)"
                "       ON CONFLICT (application_name) DO UPDATE SET notification_id = tracking_id"
                "       WHERE t.notification_id < tracking_id;"
                "     IF NOT FOUND THEN"
                "       RAISE unique_violation USING MESSAGE = format("
                "         'Failed to record tracking for %s %s', tracking_name, tracking_id);"
                "     END IF;"
                "   END IF;"
                "   PERFORM set_config('lock_timeout', {lock_timeout}, true);"
                "   LOCK TABLE {schema}.{events} IN EXCLUSIVE MODE;"
                "   NOTIFY {channel};"
                "   RETURN QUERY INSERT INTO {schema}.{events}"
                "     (originator_id, originator_version, topic, state)"
                "     SELECT * FROM unnest(ids, versions, topics, states)"
                "     RETURNING notification_id;"
                " END; $BODY$"
            ).format(
                schema=schema,
                fn=Identifier(self.append_function),
                id_type=Identifier(self.datastore.originator_id_type),
                tracking=Identifier(self.tracking_table_name),
                lock_timeout=Literal(f"{self.datastore.lock_timeout}s"),
                events=Identifier(self.events_table_name),
                channel=Identifier(self.channel_name),
            )
        )
        self._append_bytes: bytes | None = None
        self._select_bytes: dict[tuple[bool, bool], bytes] = {}
        self.append_statement = SQL("SELECT * FROM {schema}.{fn}(%s, %s, %s, %s, %s, %s)").format(
            schema=schema, fn=Identifier(self.append_function)
        )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """A stream read (every load and cache catch-up): the library composes its statement and
        builds a dict per row on every call; here the four statements are rendered once and rows
        are tuples."""
        if desc or limit is not None:
            return super().select_events(  # type: ignore[no-any-return]
                originator_id, gt=gt, lte=lte, desc=desc, limit=limit
            )
        params: list[Any] = [originator_id]
        if gt is not None:
            params.append(gt)
        if lte is not None:
            params.append(lte)
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            key = (gt is not None, lte is not None)
            query = self._select_bytes.get(key)
            if query is None:
                query = self._select_bytes[key] = self._select_statement(*key).as_bytes(conn)
            curs.execute(query, params, prepare=True)
            return [StoredEvent(r[0], r[1], r[2], bytes(r[3])) for r in curs.fetchall()]

    def _select_statement(self, gt: bool, lte: bool) -> Composed:
        statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {schema}.{table}"
            " WHERE originator_id = %s"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        if gt:
            statement += SQL(" AND originator_version > %s")
        if lte:
            statement += SQL(" AND originator_version <= %s")
        return statement + SQL(" ORDER BY originator_version ASC")

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        tracking: Tracking | None = kwargs.get("tracking")
        if not stored_events or not self.datastore.single_row_tracking:
            return super().insert_events(stored_events, **kwargs)  # type: ignore[no-any-return]
        params = (
            _array(_quoted(str(e.originator_id)) for e in stored_events),
            _array(str(e.originator_version) for e in stored_events),
            _array(_quoted(e.topic) for e in stored_events),
            _array(f'"\\\\x{e.state.hex()}"' for e in stored_events),
            tracking.application_name if tracking else None,
            tracking.notification_id if tracking else None,
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            if self._append_bytes is None:
                self._append_bytes = self.append_statement.as_bytes(conn)  # once, not per append
            curs.execute(self._append_bytes, params, prepare=True)
            return [row[self.append_function] for row in curs.fetchall()]


# The arrays go as PostgreSQL array literals (text the server parses) rather than Python lists:
# psycopg's list dumper inspects every list's elements on every call, which cost half the client's
# CPU of an append. States are sent hex-encoded (bytea's input format), so no byte needs escaping.
def _array(items: Iterable[str]) -> str:
    return "{" + ",".join(items) + "}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def one_statement_recorder(factory: PostgresFactory) -> OneStatementProcessRecorder:
    """The library's `process_recorder()` with this class (same tables, and the function beside them)."""
    events = (factory.env.name.lower() or "stored") + "_events"
    tracking = (factory.env.name.lower() or "notification") + "_tracking"
    recorder = OneStatementProcessRecorder(
        datastore=factory.datastore, events_table_name=events, tracking_table_name=tracking
    )
    if factory.env_create_table():
        recorder.create_table()
    return recorder
