"""One database URL in, the shapes each consumer needs out.

Operators configure a single `DATABASE_URL`; psycopg wants a libpq conninfo and the
eventsourcing library wants its own `POSTGRES_*` / `SQLITE_*` environment keys. Parsing
once here keeps those three views from drifting apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from psycopg.conninfo import make_conninfo

DatabaseKind = Literal["postgres", "sqlite"]

# Accept SQLAlchemy-style driver suffixes too, because people paste those URLs around.
_POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"})
_SQLITE_SCHEMES = frozenset({"sqlite", "sqlite3"})

DEFAULT_POSTGRES_PORT = 5432


class DatabaseUrlError(ValueError):
    """The URL is not one this ledger knows how to use."""


@dataclass(frozen=True)
class DatabaseTarget:
    """Where the event store lives.

    For sqlite only `dbname` (the file path, or ":memory:") is meaningful.
    `host` may be a Unix-socket directory (libpq treats a leading "/" that way);
    empty means libpq's default.
    """

    kind: DatabaseKind
    dbname: str
    host: str = ""
    port: int = DEFAULT_POSTGRES_PORT
    user: str = ""
    password: str = ""
    # Remaining libpq query parameters (sslmode, connect_timeout, ...), kept in URL order.
    options: tuple[tuple[str, str], ...] = field(default=())


def parse_database_url(url: str) -> DatabaseTarget:
    """Parse a postgres or sqlite URL.

    sqlite follows the SQLAlchemy convention: `sqlite:///rel/path.sqlite` is relative to the
    working directory, `sqlite:////abs/path.sqlite` is absolute, `sqlite:///:memory:` is in-memory.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in _SQLITE_SCHEMES:
        if parts.netloc:
            raise DatabaseUrlError(f"sqlite URL must have an empty host (sqlite:///path): {url!r}")
        # Strip exactly one slash, the separator after the empty authority.
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise DatabaseUrlError(f"sqlite URL has no file path: {url!r}")
        return DatabaseTarget(kind="sqlite", dbname=path, port=0)
    if scheme not in _POSTGRES_SCHEMES:
        raise DatabaseUrlError(f"unsupported database URL scheme {parts.scheme!r}")

    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    # libpq lets query parameters stand in for URL parts; pgserver-style socket URLs rely on it.
    host = query.pop("host", None) or unquote(parts.hostname or "")
    try:
        url_port = parts.port
    except ValueError as exc:
        raise DatabaseUrlError(f"bad port in database URL: {exc}") from exc
    port_text = query.pop("port", None)
    port = int(port_text) if port_text else (url_port or DEFAULT_POSTGRES_PORT)
    user = query.pop("user", None) or unquote(parts.username or "")
    password = query.pop("password", None) or unquote(parts.password or "")
    dbname = query.pop("dbname", None) or unquote(parts.path.lstrip("/"))
    if not dbname:
        # libpq would default to the user name; being explicit keeps env mapping total.
        dbname = user or "postgres"
    return DatabaseTarget(
        kind="postgres",
        dbname=dbname,
        host=host,
        port=port,
        user=user,
        password=password,
        options=tuple(query.items()),
    )


def eventsourcing_env(target: DatabaseTarget) -> dict[str, str]:
    """Environment keys the eventsourcing library reads to pick and configure persistence."""
    if target.kind == "sqlite":
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": target.dbname}
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": target.dbname,
        "POSTGRES_HOST": target.host,
        "POSTGRES_PORT": str(target.port),
        "POSTGRES_USER": target.user,
        # eventsourcing insists the key exists; an empty value means trust/peer auth.
        "POSTGRES_PASSWORD": target.password,
    }
    timeout = dict(target.options).get("connect_timeout")
    if timeout:
        env["POSTGRES_CONNECT_TIMEOUT"] = timeout
    return env


def libpq_conninfo(target: DatabaseTarget) -> str:
    """A libpq keyword/value string for `psycopg.connect`."""
    if target.kind != "postgres":
        raise DatabaseUrlError(f"libpq cannot connect to a {target.kind} database")
    params: dict[str, str | int] = {"dbname": target.dbname, "port": target.port}
    # Omit empty values so libpq applies its own defaults (socket dir, OS user name).
    if target.host:
        params["host"] = target.host
    if target.user:
        params["user"] = target.user
    if target.password:
        params["password"] = target.password
    params.update(dict(target.options))
    return make_conninfo("", **params)
