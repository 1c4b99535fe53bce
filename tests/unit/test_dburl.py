from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from adapters.dburl import (
    DatabaseTarget,
    DatabaseUrlError,
    eventsourcing_env,
    libpq_conninfo,
    parse_database_url,
)


def test_full_postgres_url() -> None:
    t = parse_database_url("postgresql://alice:s%40cret@db.example:6543/ledger?sslmode=require")
    assert t == DatabaseTarget(
        kind="postgres",
        dbname="ledger",
        host="db.example",
        port=6543,
        user="alice",
        password="s@cret",
        options=(("sslmode", "require"),),
    )


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg"])
def test_postgres_scheme_aliases(scheme: str) -> None:
    assert parse_database_url(f"{scheme}://u@h/d").kind == "postgres"


def test_defaults_port_and_password() -> None:
    t = parse_database_url("postgresql://postgres@127.0.0.1/postgres")
    assert (t.port, t.password) == (5432, "")


def test_socket_host_in_query_as_pgserver_writes_it() -> None:
    t = parse_database_url("postgresql://postgres:@/postgres?host=/tmp/pg sock")
    assert (t.host, t.user, t.dbname, t.options) == ("/tmp/pg sock", "postgres", "postgres", ())


def test_missing_dbname_falls_back_to_user() -> None:
    assert parse_database_url("postgresql://bob@h").dbname == "bob"


def test_eventsourcing_env_postgres_keeps_empty_password() -> None:
    env = eventsourcing_env(parse_database_url("postgresql://postgres@127.0.0.1:5433/test"))
    assert env == {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": "test",
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "5433",
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "",
    }


def test_eventsourcing_env_passes_connect_timeout() -> None:
    env = eventsourcing_env(parse_database_url("postgresql://u@h/d?connect_timeout=3"))
    assert env["POSTGRES_CONNECT_TIMEOUT"] == "3"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///var/ledger.sqlite", "var/ledger.sqlite"),
        ("sqlite:////tmp/ledger.sqlite", "/tmp/ledger.sqlite"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite(url: str, path: str) -> None:
    t = parse_database_url(url)
    assert (t.kind, t.dbname) == ("sqlite", path)
    assert eventsourcing_env(t) == {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": path,
    }


@pytest.mark.parametrize(
    "url", ["mysql://u@h/d", "sqlite://host/x.db", "sqlite:///", "postgresql://h:notaport/d"]
)
def test_rejects(url: str) -> None:
    with pytest.raises(DatabaseUrlError):
        parse_database_url(url)


def test_libpq_conninfo_round_trips_through_psycopg() -> None:
    t = parse_database_url("postgresql://al%20ice:p%27w@h:6000/my%20db?sslmode=disable")
    info = conninfo_to_dict(libpq_conninfo(t))
    assert info == {
        "dbname": "my db",
        "host": "h",
        "port": "6000",
        "user": "al ice",
        "password": "p'w",
        "sslmode": "disable",
    }


def test_libpq_conninfo_omits_empty_parts_for_libpq_defaults() -> None:
    info = conninfo_to_dict(libpq_conninfo(parse_database_url("postgresql:///ledger")))
    assert info == {"dbname": "ledger", "port": "5432"}


def test_libpq_conninfo_rejects_sqlite() -> None:
    with pytest.raises(DatabaseUrlError):
        libpq_conninfo(parse_database_url("sqlite:///x.db"))


def test_conninfo_is_accepted_by_psycopg_parser() -> None:
    # make_conninfo validates; a bad key would raise ProgrammingError here.
    psycopg.conninfo.make_conninfo(libpq_conninfo(parse_database_url("postgres://u@h/d")))
