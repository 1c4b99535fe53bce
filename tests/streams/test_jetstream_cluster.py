"""Beyond one machine: the relay publishes into an R3 stream on a 3-node JetStream cluster on loopback,
the stream's leader is killed (SIGKILL) while it relays, and two subscriber processes sharing one durable
consumer handle every event once, in the log's order."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from adapters.eventstore import LedgerStore
from adapters.nats_relay import NatsRelay, RelayConfig
from domain.events import Actor
from ledger.workers import relay_loop
from projections.db import SqliteViews
from service import catalog
from service.deps import Deps
from service.unit import Context
from tests.support.nats import NatsUnavailable
from tests.support.nats_cluster import Cluster, nats_cluster

pytestmark = [pytest.mark.nats, pytest.mark.timeout(180)]
EVENTS, KILL_AT, PAGE = 240, 80, 10
SUBSCRIBER = [sys.executable, "-m", "tests.streams.js_subscriber"]


@pytest.fixture
def cluster() -> Cluster:  # type: ignore[misc]
    try:
        with nats_cluster(3) as running:
            yield running
    except NatsUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(f"SKIPPED (would FAIL in CI): {exc}")


async def _prepare(relay: NatsRelay, url: str, stream: str) -> str:
    """The R3 stream as the relay makes it, the subscribers' durable consumer on it; its leader's name."""
    await relay.connect()
    await relay.close()
    nc = await nats.connect(url.split(","))
    try:
        js = nc.jetstream()
        await js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name="subscribers",
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=10,
            ),
        )
        info = await js.stream_info(stream)
        assert info.config.num_replicas == 3
        assert info.cluster is not None and info.cluster.leader is not None
        return info.cluster.leader
    finally:
        await nc.close()


async def _messages(url: str, stream: str) -> int:
    nc = await nats.connect(url.split(","))
    try:
        return int((await nc.jetstream().stream_info(stream)).state.messages)
    finally:
        await nc.close()


def test_an_r3_stream_loses_a_node_while_relaying_and_subscribers_see_every_event_once_in_order(
    tmp_path: Path, cluster: Cluster
) -> None:
    store = LedgerStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite")}
    )
    views = SqliteViews(str(tmp_path / "views.sqlite"))
    deps = Deps(store, gateways={})
    ctx = Context(Actor(kind="staff", id="s"), "org_cluster", str(uuid4()), "cluster-test")
    while store.last_position() < EVENTS:
        catalog.register_patient(deps, ctx, name="P", email="p@example.com", state="TX")
    positions = [n.id for n in store.notifications(0, 10_000)]
    tag = uuid4().hex[:8]
    stream, prefix = f"C_{tag}", f"c{tag}"
    config = RelayConfig(url=cluster.url, stream=stream, prefix=prefix, page=PAGE, replicas=3)
    leader = asyncio.run(_prepare(NatsRelay(store, views, config), cluster.url, stream))

    stop = tmp_path / "stop"
    outs = [tmp_path / f"subscriber-{i}.jsonl" for i in range(2)]
    subscribers = [
        subprocess.Popen([*SUBSCRIBER, cluster.url, stream, "subscribers", str(out), str(stop)])
        for out in outs
    ]
    killed: list[str] = []

    def kill_the_leader_midway(position: int) -> None:
        if position >= positions[KILL_AT] and not killed:
            cluster.node(leader).kill()  # the stream's leader, while the relay is mid-log
            killed.append(leader)

    relay = relay_loop(store, views, config, after_publish=kill_the_leader_midway).start()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with views.transaction() as cursor:
                cursor.execute("SELECT position FROM projection_tracking WHERE name = %s", (config.name,))
                row = cursor.fetchone()
            if row and int(row[0]) == positions[-1]:
                break
            time.sleep(0.2)
        survivors = ",".join(n.url for n in cluster.nodes if n.name not in killed)
        in_stream = asyncio.run(_messages(survivors, stream))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sum(len(o.read_text().splitlines()) for o in outs if o.exists()) >= len(positions):
                break
            time.sleep(0.2)
        stop.touch()
        for s in subscribers:
            s.wait(30)
    finally:
        relay.stop()
        for s in subscribers:
            if s.poll() is None:
                s.kill()
        store.close()

    handled = [[json.loads(line) for line in o.read_text().splitlines()] for o in outs]
    everything = [h for each in handled for h in each]
    assert killed, "the leader was never killed: the relay finished before the midpoint"
    assert in_stream == len(positions)  # the republished page was dropped as duplicates
    assert sorted(h["position"] for h in everything) == positions  # each event once, none missing
    assert all(each for each in handled), "both subscribers share the work"
    by_seq = sorted(everything, key=lambda h: h["seq"])
    assert [h["position"] for h in by_seq] == positions  # the stream keeps the log's order
    for each in handled:  # and each subscriber receives it in that order
        assert [h["seq"] for h in each] == sorted(h["seq"] for h in each)
