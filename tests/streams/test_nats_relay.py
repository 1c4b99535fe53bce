"""The JetStream relay against a real nats-server: a relay that crashes mid-page and a subscriber that
dies and resumes from its stored position still see every event exactly once, in order."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from uuid import uuid4

import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy, StreamConfig

from adapters.eventstore import LedgerStore
from adapters.nats_relay import NatsRelay, RelayConfig
from domain.events import Actor
from projections.db import SqliteViews
from service import catalog
from service.deps import Deps
from service.unit import Context

pytestmark = [pytest.mark.nats, pytest.mark.timeout(90)]
ORG = "org.nats test"  # dots and spaces must not leak into subjects


class Crash(Exception):
    pass


def write(deps: Deps, count: int) -> None:
    ctx = Context(Actor(kind="staff", id="s"), ORG, str(uuid4()), "nats-test")
    for _ in range(count):
        catalog.register_patient(deps, ctx, name="P", email="p@example.com", state="TX")


async def read(url: str, stream: str, prefix: str, after_seq: int, want: int) -> list[tuple[int, int, str]]:
    """(stream sequence, ledger position, subject) of up to `want` messages after `after_seq`."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(
            f"{prefix}.>",
            stream=stream,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after_seq + 1
            ),
        )
        got: list[tuple[int, int, str]] = []
        while len(got) < want:
            try:
                msgs = await sub.fetch(min(50, want - len(got)), timeout=2)
            except TimeoutError:  # nats' own and asyncio's: either way, nothing more to read
                break
            for m in msgs:
                body = json.loads(m.data)
                assert m.headers is not None
                assert m.headers["Nats-Msg-Id"] == body["id"]
                assert int(m.headers["Ledger-Position"]) == body["position"]
                got.append((m.metadata.sequence.stream, body["position"], m.subject))
                await m.ack()
        await sub.unsubscribe()
        return got
    finally:
        await nc.close()


def test_relay_and_subscriber_survive_crashes(tmp_path: Path, nats_server_url: str) -> None:
    store = LedgerStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite")}
    )
    views = SqliteViews(str(tmp_path / "views.sqlite"))
    deps = Deps(store, gateways={})
    tag = uuid4().hex[:10]
    config = RelayConfig(url=nats_server_url, stream=f"T_{tag}", prefix=f"t{tag}", page=10)
    write(deps, 35)

    async def scenario() -> tuple[list[tuple[int, int, str]], int]:
        published: list[int] = []

        def crash_on_25th(position: int) -> None:
            published.append(position)
            if len(published) == 25:
                raise Crash  # dies after publishing, before its page's position is saved

        first = NatsRelay(store, views, config, after_publish=crash_on_25th)
        await first.connect()
        with pytest.raises(Crash):
            await first.catch_up()
        await first.close()
        assert first.position() == 20  # two pages saved; the third was published but not recorded

        second = NatsRelay(store, views, config)
        await second.connect()
        await second.catch_up()  # republishes 21-25 (dropped as duplicates), then the rest
        part = await read(nats_server_url, config.stream, config.prefix, 0, 18)  # a subscriber's first life
        stored_seq = part[-1][0]
        await asyncio.to_thread(write, deps, 15)  # more history while the subscriber is down
        await second.catch_up()
        await second.close()
        rest = await read(nats_server_url, config.stream, config.prefix, stored_seq, 1000)

        nc = await nats.connect(nats_server_url)
        info = await nc.jetstream().stream_info(config.stream)
        await nc.jetstream().delete_stream(config.stream)
        await nc.close()
        return part + rest, info.state.messages

    received, messages = asyncio.run(scenario())
    final = [n.id for n in store.iter_notifications()]
    assert len(final) == 50
    assert [position for _, position, _ in received] == final  # once each, in order
    assert messages == len(final)  # the crash's replays were dropped as duplicates
    assert all(
        subject.startswith(f"{config.prefix}.org_nats_test.patient.PatientRegistered")
        for _, _, subject in received
    )
    views.close()
    store.close()


def test_relay_raises_a_short_duplicate_window_of_an_existing_stream(
    tmp_path: Path, nats_server_url: str
) -> None:
    """A stream made beforehand with a 2-minute window would forget ids before a long restart ends."""
    store = LedgerStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite")}
    )
    views = SqliteViews(str(tmp_path / "views.sqlite"))
    tag = uuid4().hex[:10]
    config = RelayConfig(url=nats_server_url, stream=f"W_{tag}", prefix=f"w{tag}", duplicate_window=1800.0)

    async def scenario() -> tuple[float | None, float | None]:
        nc = await nats.connect(nats_server_url)
        js = nc.jetstream()
        await js.add_stream(
            StreamConfig(name=config.stream, subjects=[f"{config.prefix}.>"], duplicate_window=120.0)
        )
        before = (await js.stream_info(config.stream)).config.duplicate_window
        relay = NatsRelay(store, views, config)
        try:
            await relay.connect()
            await relay.close()
            after = (await js.stream_info(config.stream)).config.duplicate_window
        finally:
            await js.delete_stream(config.stream)
            await nc.close()
        return before, after

    before, after = asyncio.run(scenario())
    assert before == 120.0
    assert after == config.duplicate_window
    views.close()
    store.close()
