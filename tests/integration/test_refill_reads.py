"""How many streams one refill reads, counted where the store is read (`LedgerStore.stream`).

The refill request runs over HTTP as deployed (bootstrap, app, fake gateway) with no background
worker in the process, so every read counted is the request's own. Warm: the patient, product,
organization and original order were written or read by this process before, so each read is a
catch-up of an already cached stream. Cold: the process's cache was emptied first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from adapters.aggregates import cache_of
from domain.events import Recorded
from tests.support.app import Ledger, running_ledger

WARM_LIMIT, COLD_LIMIT = 4, 8


class Reads:
    """Counts `LedgerStore.stream` calls while switched on: (aggregate id, after_version)."""

    def __init__(self, ledger: Ledger) -> None:
        self.on = False
        self.calls: list[tuple[UUID, int | None]] = []
        store = ledger.runtime.deps.store
        inner = store.stream

        def counted(aggregate_id: UUID, **kw: Any) -> list[Recorded]:
            if self.on:
                self.calls.append((aggregate_id, kw.get("after_version")))
            return inner(aggregate_id, **kw)

        store.stream = counted  # type: ignore[method-assign]

    def during(self, request: Any) -> Any:
        self.calls.clear()
        self.on = True
        try:
            return request()
        finally:
            self.on = False


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    with running_ledger(tmp_path, url) as running:
        yield running


def refill(ledger: Ledger, patient: dict[str, Any], order: dict[str, Any], product_id: str) -> Any:
    r = ledger.call(
        "POST",
        f"/orders/{order['id']}/refills",
        "patient",
        patient["id"],
        json={"product_id": product_id, "payment_method_id": patient["cards"][0]},
        headers={"Idempotency-Key": f"refill-{order['id']}-{product_id}"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["invoice"]["status"] == "PAID" and body["created"] is True  # a real, charged refill
    return body


def test_one_refill_reads_each_stream_once_and_few_of_them(ledger: Ledger) -> None:
    product = ledger.product()
    patient = ledger.patient()
    cold_order = ledger.paid_order(patient, [(product["id"], 1)])
    warm_order = ledger.paid_order(patient, [(product["id"], 1)])
    reads = Reads(ledger)
    cache = cache_of(ledger.runtime.deps.store)

    cache.clear()
    cold = reads.during(lambda: refill(ledger, patient, cold_order, product["id"]))
    cold_reads = list(reads.calls)
    assert len(cold_reads) <= COLD_LIMIT, cold_reads
    assert len({uid for uid, _ in cold_reads}) == len(cold_reads)  # no stream read twice
    assert UUID(cold_order["id"]) in {uid for uid, _ in cold_reads}

    ledger.call("GET", f"/orders/{warm_order['id']}", "staff")  # this process has read it: warm
    hits_before = cache.stats()["hits"]
    warm = reads.during(lambda: refill(ledger, patient, warm_order, product["id"]))
    warm_reads = list(reads.calls)
    assert len(warm_reads) <= WARM_LIMIT, warm_reads
    assert len({uid for uid, _ in warm_reads}) == len(warm_reads)
    assert all(after is not None for _, after in warm_reads)  # each a catch-up from a cached version
    assert cache.stats()["hits"] - hits_before == len(warm_reads)
    served = ledger.client.get("/healthz").json()["aggregate_cache"]  # the hit rate, as served
    assert served["hits"] >= hits_before + len(warm_reads) and 0 < served["hit_rate"] <= 1

    for body, order in ((cold, cold_order), (warm, warm_order)):
        assert body["refill"]["original_order_id"] == order["id"]


def test_an_open_refill_is_found_from_the_originals_index_without_reading_other_refills(
    ledger: Ledger,
) -> None:
    product = ledger.product()
    other = ledger.product(sku="OTHER")
    patient = ledger.patient()
    order = ledger.paid_order(patient, [(product["id"], 1), (other["id"], 1)])
    first = refill(ledger, patient, order, other["id"])  # an open refill of the other product
    reads = Reads(ledger)
    second = reads.during(lambda: refill(ledger, patient, order, product["id"]))
    read_ids = {uid for uid, _ in reads.calls}
    assert UUID(first["refill_order"]["id"]) not in read_ids  # another product's refill: not read
    assert second["refill"]["id"] != first["refill"]["id"]
    again = ledger.call(
        "POST",
        f"/orders/{order['id']}/refills",
        "patient",
        patient["id"],
        json={"product_id": product["id"], "payment_method_id": patient["cards"][0]},
    )
    assert again.status_code == 200 and again.json()["refill"]["id"] == second["refill"]["id"]  # still open
