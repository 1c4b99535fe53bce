"""The feed under concurrent writers on PostgreSQL: a subscriber paging by position misses nothing."""

from __future__ import annotations

import threading
from uuid import uuid4

import pytest

from adapters.eventstore import LedgerStore
from domain.events import Actor, is_bookkeeping
from service import catalog, orders
from service.deps import Deps
from service.feed import feed_page
from service.unit import Context
from tests.support.app import ORG, Ledger

WRITERS, COMMITS = 4, 100


def _write(deps: Deps, writer: int, product_id: str, errors: list[BaseException]) -> None:
    ctx = Context(Actor(kind="staff", id=f"w{writer}"), ORG, str(uuid4()), "stress")
    try:
        for i in range(COMMITS):
            patient = catalog.register_patient(deps, ctx, name="P", email="p@example.com", state="TX")
            if i % 2 == 0:  # a three-event transaction between the one-event ones
                orders.place_order(deps, ctx, patient.id, [(product_id, 1)])
    except BaseException as exc:
        errors.append(exc)


def _subscribe(store: LedgerStore, done: threading.Event, seen: list[int], limit: int) -> None:
    after = 0
    while True:
        finished = done.is_set()  # read before the page: a page read after it reaches the head
        page = feed_page(store, ORG, after, limit)
        seen.extend(p for p, _ in page.events)
        after = page.next_after
        if finished and page.scanned < limit:
            return


@pytest.mark.postgres
@pytest.mark.parametrize("limit", [1, 7])
def test_a_paging_subscriber_sees_the_final_log_exactly(pg_ledger: Ledger, limit: int) -> None:
    deps, store = pg_ledger.runtime.deps, pg_ledger.runtime.deps.store
    product_id = pg_ledger.product()["id"]
    errors: list[BaseException] = []
    done = threading.Event()
    seen: list[int] = []
    subscriber = threading.Thread(target=_subscribe, args=(store, done, seen, limit))
    writers = [threading.Thread(target=_write, args=(deps, w, product_id, errors)) for w in range(WRITERS)]
    subscriber.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    subscriber.join(60)

    assert not errors
    final = [
        n.id for n in store.iter_notifications() if not is_bookkeeping(n.topic)
    ]  # the product's SKU claim
    assert len(final) >= WRITERS * COMMITS * 2
    assert seen == final  # every position, once, in order
    assert len(set(seen)) == len(seen)
