"""The raw ceiling for scripts/bench_refills.py: a minimal Starlette route served like the ledger
(uvicorn, the same processes and thread pool), appending 3 rows in one transaction behind
`LOCK TABLE … IN EXCLUSIVE MODE` and a NOTIFY, as the event store does for each write.

    uvicorn --app-dir scripts/bench ceiling:create --factory   (BENCH_CONNINFO, BENCH_POOL, BENCH_THREADS)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import anyio.to_thread
from psycopg_pool import ConnectionPool
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TABLE = "bench_ceiling_events"
DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGSERIAL PRIMARY KEY, stream UUID NOT NULL,"
    " version INT NOT NULL, topic TEXT NOT NULL, state BYTEA NOT NULL, UNIQUE (stream, version))"
)
STATE = b'{"actor":{"id":"x","kind":"patient"},"data":{"price_cents":29900,"sku":"SEMA"},"v":1}' * 3


def create() -> Starlette:
    size = int(os.environ.get("BENCH_POOL", "10"))
    pool = ConnectionPool(os.environ["BENCH_CONNINFO"], min_size=size, max_size=2 * size, open=False)

    def append() -> None:
        stream = uuid4()
        with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(f"LOCK TABLE {TABLE} IN EXCLUSIVE MODE")
            cur.executemany(
                f"INSERT INTO {TABLE} (stream, version, topic, state) VALUES (%s, %s, %s, %s)",
                [(stream, v, "RefillRequested", STATE) for v in (1, 2, 3)],
            )
            cur.execute(f"NOTIFY {TABLE}")

    async def route(request: Request) -> Response:
        await run_in_threadpool(append)
        return JSONResponse({"ok": True}, status_code=201)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = int(
            os.environ.get("BENCH_THREADS", "40")
        )
        pool.open()  # the table exists: the bench creates it (DDL from two processes at once would race)
        yield
        pool.close()

    return Starlette(
        routes=[Route("/append", route, methods=["POST"]), Route("/healthz", health)], lifespan=lifespan
    )
