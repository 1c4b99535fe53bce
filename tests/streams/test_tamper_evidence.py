"""Tampering with PostgreSQL directly (edit, delete, insert, reorder, truncate) is caught where it is."""

from __future__ import annotations

import os
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from adapters.chain import Signer
from ledger.cli import app as cli
from projections.sealer import seal
from replay.verify import Report, verify_store
from tests.streams.conftest import signer
from tests.support.app import Ledger

pytestmark = pytest.mark.postgres
TABLE = "ledger_events"  # the library names it after the application ("Ledger")


def seeded(ledger: Ledger) -> list[int]:
    """A few patients with paid orders; everything sealed. Returns the log's positions."""
    product = ledger.product()
    for _ in range(4):
        ledger.paid_order(ledger.patient(), [(product["id"], 1)])
    assert seal(ledger.runtime.deps.store, ledger.runtime.views, signer(ledger)) > 0
    positions = [n.id for n in ledger.runtime.deps.store.iter_notifications()]
    assert positions == list(range(1, len(positions) + 1))
    assert len(positions) > 20
    return positions


def verify(ledger: Ledger) -> Report:
    return verify_store(ledger.runtime.deps.store, ledger.runtime.views, signer(ledger).verifier)


def sql(url: str, statement: str, params: tuple[Any, ...] = ()) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement, params)


def edit(url: str, position: int) -> None:
    """Change one value in the stored body (whitespace alone would not: the hash is of canonical JSON)."""
    sql(
        url,
        f"UPDATE {TABLE} SET state = convert_to(replace(convert_from(state, 'UTF8'), '\"correlation_id\":\"',"
        " '\"correlation_id\":\"forged-'), 'UTF8') WHERE notification_id = %s",
        (position,),
    )


def test_untouched_log_verifies_and_the_table_is_the_librarys(pg_ledger: Ledger, pg_url: str) -> None:
    positions = seeded(pg_ledger)
    report = verify(pg_ledger)
    assert report.ok
    assert report.checked == len(positions)
    assert report.checkpoints >= 1
    with psycopg.connect(pg_url) as conn:
        (count,) = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()  # type: ignore[misc]
    assert count == len(positions)


def test_an_edited_payload_is_reported_at_its_position(pg_ledger: Ledger, pg_url: str) -> None:
    positions = seeded(pg_ledger)
    target = positions[len(positions) // 2]
    edit(pg_url, target)
    report = verify(pg_ledger)
    assert report.first_break is not None
    assert (report.first_break.kind, report.first_break.position) == ("edited", target)
    assert report.checked == target - 1

    # The CLI says the same, and fails.
    env = {
        "DATABASE_URL": pg_url,
        "LEDGER_VAR_DIR": str(pg_ledger.settings.var_dir),
        "LEDGER_SIGNING_KEY": pg_ledger.settings.signing_key or "",
        "LEDGER_SECRET": "x" * 32,
    }
    result = CliRunner().invoke(cli, ["verify"], env={**os.environ, **env})
    assert result.exit_code == 1, result.output
    assert f"BROKEN at position {target}: edited" in result.output


def test_a_deleted_event_is_reported_at_its_position(pg_ledger: Ledger, pg_url: str) -> None:
    positions = seeded(pg_ledger)
    target = positions[5]
    sql(pg_url, f"DELETE FROM {TABLE} WHERE notification_id = %s", (target,))
    report = verify(pg_ledger)
    assert report.first_break is not None
    assert (report.first_break.kind, report.first_break.position) == ("deleted", target)


def test_an_inserted_event_is_reported_at_its_position(pg_ledger: Ledger, pg_url: str) -> None:
    positions = seeded(pg_ledger)
    target = positions[7]
    # Make room by shifting everything from `target` on by one (in two steps: ids are unique), then
    # slip in a fabricated copy of an event under a new aggregate and event id.
    sql(
        pg_url,
        f"UPDATE {TABLE} SET notification_id = notification_id + 1000000 WHERE notification_id >= %s",
        (target,),
    )
    sql(
        pg_url,
        f"UPDATE {TABLE} SET notification_id = notification_id - 999999 WHERE notification_id > 1000000",
    )
    sql(
        pg_url,
        f"INSERT INTO {TABLE} (originator_id, originator_version, topic, state, notification_id)"
        f" SELECT gen_random_uuid(), 1, topic, convert_to(regexp_replace(convert_from(state, 'UTF8'),"
        f' \'"event_id":"[^"]+"\', \'"event_id":"\' || gen_random_uuid() || \'"\'), \'UTF8\'), %s'
        f" FROM {TABLE} WHERE notification_id = %s",
        (target, positions[2]),
    )
    report = verify(pg_ledger)
    assert report.first_break is not None
    assert (report.first_break.kind, report.first_break.position) == ("inserted", target)


def test_reordered_events_are_reported_at_the_first_moved_position(pg_ledger: Ledger, pg_url: str) -> None:
    positions = seeded(pg_ledger)
    first, second = positions[9], positions[14]
    sql(pg_url, f"UPDATE {TABLE} SET notification_id = -1 WHERE notification_id = %s", (first,))
    sql(pg_url, f"UPDATE {TABLE} SET notification_id = %s WHERE notification_id = %s", (first, second))
    sql(pg_url, f"UPDATE {TABLE} SET notification_id = %s WHERE notification_id = -1", (second,))
    report = verify(pg_ledger)
    assert report.first_break is not None
    assert (report.first_break.kind, report.first_break.position) == ("reordered", first)


def test_a_truncated_tail_is_reported_where_it_was_cut(pg_ledger: Ledger, pg_url: str) -> None:
    positions = seeded(pg_ledger)
    keep = positions[-4]
    sql(pg_url, f"DELETE FROM {TABLE} WHERE notification_id > %s", (keep,))
    report = verify(pg_ledger)
    assert report.first_break is not None
    assert (report.first_break.kind, report.first_break.position) == ("truncated", keep + 1)


def test_truncating_the_chain_too_is_caught_by_the_signed_checkpoint(pg_ledger: Ledger, pg_url: str) -> None:
    positions = seeded(pg_ledger)
    keep = positions[-4]
    for table, column in ((TABLE, "notification_id"), ("event_chain", "position")):
        sql(pg_url, f"DELETE FROM {table} WHERE {column} > %s", (keep,))
    report = verify(pg_ledger)
    assert report.first_break is not None
    assert (report.first_break.kind, report.first_break.position) == ("truncated", keep + 1)


def test_resealing_an_edit_with_another_key_does_not_pass(pg_ledger: Ledger, pg_url: str) -> None:
    positions = seeded(pg_ledger)
    target = positions[3]
    edit(pg_url, target)
    # The forger rebuilds the whole chain over the edited log and signs it with a key of their own.
    sql(pg_url, "DELETE FROM event_chain")
    sql(pg_url, "UPDATE projection_tracking SET position = 0 WHERE name = 'event_chain'")
    forger = Signer.from_b64("A" * 43)
    seal(pg_ledger.runtime.deps.store, pg_ledger.runtime.views, forger)
    report = verify(pg_ledger)
    assert report.first_break is not None
    assert report.first_break.kind == "checkpoint"
    assert report.first_break.position <= positions[-1]
