"""The test infrastructure itself: fresh databases, and the throwaway-server fallbacks.

The throwaway paths are forced here because on a machine with local servers the normal
resolution never reaches them, and a fallback nobody exercises rots.
"""

from __future__ import annotations

import asyncio
import os

import nats
import psycopg
import pytest

from tests.support import nats as nats_support
from tests.support import postgres as pg_support


def _database_exists(server: str, name: str) -> bool:
    with psycopg.connect(server, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


@pytest.mark.postgres
def test_fresh_database_is_isolated_and_dropped(pg_server_url: str) -> None:
    with (
        pg_support.fresh_database(server=pg_server_url) as first,
        pg_support.fresh_database(server=pg_server_url) as second,
    ):
        assert first != second
        with psycopg.connect(first, autocommit=True) as conn:
            conn.execute("CREATE TABLE only_here (x int)")
            # A leaked connection must not stop the drop (WITH (FORCE)).
            leaked = psycopg.connect(first)
        with psycopg.connect(second) as conn:
            row = conn.execute("SELECT to_regclass('only_here')").fetchone()
            assert row == (None,)
        name = first.rsplit("/", 1)[1]
        assert name.startswith("ledger_test_")
        assert _database_exists(pg_server_url, name)
    assert not _database_exists(pg_server_url, name)
    leaked.close()


@pytest.mark.postgres
def test_pg_url_fixture_gives_an_empty_database(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert row == (0,)


@pytest.mark.postgres
def test_eventsourcing_env_from_test_url_connects(pg_url: str) -> None:
    env = pg_support.url_to_eventsourcing_env(pg_url)
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    with psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
    ) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (env["POSTGRES_DBNAME"],)


def _exercise_throwaway(method: pg_support.ThrowawayMethod) -> None:
    try:
        server = pg_support.start_throwaway_postgres(method)
    except pg_support.PostgresUnavailable as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"SKIPPED (would FAIL in CI): {exc}")
    try:
        assert server.method == method
        with pg_support.fresh_database(server=server.url) as url, psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url, connect_timeout=2)


@pytest.mark.postgres
@pytest.mark.timeout(60)
def test_throwaway_postgres_from_machine_binaries() -> None:
    _exercise_throwaway("binaries")


@pytest.mark.postgres
@pytest.mark.timeout(90)
def test_throwaway_postgres_from_pgserver() -> None:
    _exercise_throwaway("pgserver")


async def _jetstream_round_trip(url: str) -> bytes:
    nc = await nats.connect(url, connect_timeout=5)
    try:
        js = nc.jetstream()
        await js.add_stream(name="INFRA_CHECK", subjects=["infra.check"])
        await js.publish("infra.check", b"hello")
        sub = await js.pull_subscribe("infra.check", durable="infra-check")
        (msg,) = await sub.fetch(1, timeout=5)
        await msg.ack()
        return bytes(msg.data)
    finally:
        await nc.close()


@pytest.mark.nats
@pytest.mark.timeout(60)
def test_throwaway_nats_server_speaks_jetstream() -> None:
    server = nats_support.start_throwaway_nats()
    try:
        assert nats_support.server_info(server.url)["jetstream"] is True
        assert asyncio.run(_jetstream_round_trip(server.url)) == b"hello"
    finally:
        server.stop()
    assert server.process.poll() is not None
    assert not server.store_dir.exists()


@pytest.mark.nats
def test_nats_server_url_fixture_has_jetstream(nats_server_url: str) -> None:
    assert nats_support.server_info(nats_server_url)["jetstream"] is True


# --- resolution order: named server > local default > throwaway ---------------------------

DEAD_PG = "postgresql://postgres@127.0.0.1:1/postgres"
DEAD_NATS = "nats://127.0.0.1:1"


@pytest.mark.postgres
@pytest.mark.timeout(90)
def test_server_url_falls_back_to_throwaway_when_no_local_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LEDGER_TEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///ignored.sqlite")  # not a server: ignored
    monkeypatch.setattr(pg_support, "LOCAL_DEFAULT_URL", DEAD_PG)
    started: list[pg_support.ThrowawayPostgres] = []
    original = pg_support.start_throwaway_postgres

    def capture(method: pg_support.ThrowawayMethod | None = None) -> pg_support.ThrowawayPostgres:
        started.append(original(method))
        return started[-1]

    monkeypatch.setattr(pg_support, "start_throwaway_postgres", capture)
    try:
        url = pg_support._resolve()
        assert [s.url for s in started] == [url]
        with pg_support.fresh_database(server=url) as db, psycopg.connect(db) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        for server in started:
            server.stop()


@pytest.mark.postgres
def test_named_but_unreachable_postgres_is_an_error_not_a_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGER_TEST_DATABASE_URL", DEAD_PG + "?connect_timeout=2")
    with pytest.raises(pg_support.PostgresUnavailable, match="unreachable"):
        pg_support._resolve()


@pytest.mark.nats
@pytest.mark.timeout(60)
def test_nats_url_falls_back_to_throwaway_when_no_local_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LEDGER_TEST_NATS_URL", raising=False)
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.setattr(nats_support, "LOCAL_DEFAULT_URL", DEAD_NATS)
    started: list[nats_support.ThrowawayNats] = []
    original = nats_support.start_throwaway_nats

    def capture(timeout_s: float = 15.0) -> nats_support.ThrowawayNats:
        started.append(original(timeout_s))
        return started[-1]

    monkeypatch.setattr(nats_support, "start_throwaway_nats", capture)
    try:
        url = nats_support._resolve()
        assert [s.url for s in started] == [url]
        assert nats_support.server_info(url)["jetstream"] is True
    finally:
        for server in started:
            server.stop()


@pytest.mark.nats
def test_named_but_unreachable_nats_is_an_error_not_a_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NATS_URL", DEAD_NATS)
    with pytest.raises(nats_support.NatsUnavailable):
        nats_support._resolve()


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_unavailable_fails_in_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    from tests.conftest import _unavailable

    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="PostgreSQL unavailable: boom"):
        _unavailable("PostgreSQL", RuntimeError("boom"))
