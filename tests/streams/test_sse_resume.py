"""A live SSE subscriber (real HTTP on loopback) that dies mid-stream and resumes with Last-Event-ID
receives every event exactly once and in order, while writers keep committing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from adapters.sandbox.runner import serve_in_thread
from api.app import create_app
from api.auth import issue_token
from api.runtime import Runtime
from domain.events import Actor
from ledger.bootstrap import build_runtime
from service import catalog
from service.unit import Context
from tests.support.app import ORG, ledger_settings

TOTAL = 80


@contextmanager
def served(tmp_path: Path, url: str | None) -> Iterator[tuple[Runtime, str]]:
    runtime = build_runtime(ledger_settings(tmp_path, url))
    runtime.stream_ping_seconds = 0.2
    runtime.stream_poll_seconds = 0.2
    server = serve_in_thread(create_app(runtime))
    try:
        yield runtime, server.url
    finally:
        server.stop()


def sse(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse the stream: yields events as dicts, and {"comment": …} for keep-alives."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line.startswith(":"):
            yield {"comment": line}
        elif line == "":
            if fields:
                yield dict(fields)
            fields = {}
        else:
            name, _, value = line.partition(":")
            fields[name] = value.lstrip(" ")


def writer(runtime: Runtime, started: threading.Event) -> None:
    ctx = Context(Actor(kind="staff", id="writer"), ORG, str(uuid4()), "sse-test")
    for i in range(TOTAL):
        catalog.register_patient(runtime.deps, ctx, name="P", email="p@example.com", state="TX")
        if i == 10:
            started.set()
        time.sleep(0.005)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_sse_subscriber_dies_and_resumes_without_loss_or_repeat(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_url") if store == "postgres" else None
    with served(tmp_path, url) as (runtime, base):
        token = issue_token(
            runtime.token_secret, role="service", subject=None, organization_id=ORG, now=datetime.now(UTC)
        )
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        started = threading.Event()
        thread = threading.Thread(target=writer, args=(runtime, started))
        thread.start()
        started.wait(30)
        seen: list[int] = []
        with httpx.Client(base_url=base, timeout=httpx.Timeout(10.0)) as client:
            # First life: read part of the stream, then drop the connection mid-stream.
            with client.stream("GET", "/events/stream", headers=headers) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                for item in sse(response):
                    if "id" in item:
                        assert json.loads(item["data"])["position"] == int(item["id"])
                        seen.append(int(item["id"]))
                    if len(seen) == 25:
                        break
            stored = seen[-1]
            thread.join()
            head = runtime.deps.store.last_position()
            comments = 0
            # Second life: resume from the stored position; stay until the head and one keep-alive.
            with client.stream(
                "GET", "/events/stream", headers={**headers, "Last-Event-ID": str(stored)}
            ) as r2:
                for item in sse(r2):
                    if "id" in item:
                        seen.append(int(item["id"]))
                    else:
                        comments += 1
                    if seen[-1] >= head and comments:
                        break
        final = [n.id for n in runtime.deps.store.iter_notifications()]
        assert seen == final  # each event exactly once, in position order
        assert comments >= 1  # keep-alives flow while idle


def test_sse_needs_a_service_or_ops_token_and_a_valid_position(tmp_path: Path) -> None:
    with served(tmp_path, None) as (runtime, base), httpx.Client(base_url=base, timeout=5.0) as client:
        assert client.get("/events/stream").status_code == 401
        patient = issue_token(
            runtime.token_secret, role="patient", subject="p1", organization_id=ORG, now=datetime.now(UTC)
        )
        assert client.get("/events/stream", headers={"Authorization": f"Bearer {patient}"}).status_code == 403
        ops = issue_token(
            runtime.token_secret, role="ops", subject=None, organization_id=ORG, now=datetime.now(UTC)
        )
        asks = {"Authorization": f"Bearer {ops}", "Accept": "text/event-stream"}
        r = client.get("/events/stream", headers={**asks, "Last-Event-ID": "abc"})
        assert r.status_code == 422
        r = client.get("/events/stream?types=NoSuchEvent", headers=asks)
        assert r.status_code == 422
        assert r.json()["reasons"] == ["UNKNOWN_EVENT_TYPE"]
        # A client that did not ask for an event stream (a JSON client, a fuzzer) is not left hanging.
        r = client.get("/events/stream", headers={**asks, "Accept": "application/json"})
        assert r.status_code == 406
        assert r.json()["reasons"] == ["ACCEPT_EVENT_STREAM"]
        # curl and httpx send */* by default: they get the stream.
        auth = {"Authorization": f"Bearer {ops}"}
        for accept in ("*/*", "text/*", "application/json, */*;q=0.8"):
            with client.stream("GET", "/events/stream", headers={**auth, "Accept": accept}) as live:
                assert live.status_code == 200, accept
                assert live.headers["content-type"].startswith("text/event-stream")
