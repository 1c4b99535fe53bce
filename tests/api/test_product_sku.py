"""A SKU names one product of an organization (issue 10, item 7): a second product with the same SKU,
by create or by change, is 409 `SKU_TAKEN` naming `sku`, and adds or changes nothing. SKUs compare
ignoring case and spacing; a changed SKU is free for others; another organization may use it. Two
racing creates of one SKU make exactly one product — the store, not a read before the write, decides.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from httpx import Response

from adapters.eventstore import LedgerStore
from api.auth import issue_token
from domain.catalog import ProductAdded
from domain.events import Actor, Recorded
from service.catalog import sku_claim_id
from service.unit import Context
from tests.support.app import ORG, Ledger, running_ledger

OTHER_ORG = "org_other"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    """The shared `ledger` fixture, serving a second organization too."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    with running_ledger(tmp_path, url, LEDGER_SERVED_ORGANIZATIONS=OTHER_ORG) as running:
        yield running


def body(sku: str, **fields: Any) -> dict[str, Any]:
    return {"sku": sku, "name": "Semaglutide", "price_cents": 29900, "kind": "medication", **fields}


def create(ledger: Ledger, sku: str, headers: dict[str, str] | None = None) -> Response:
    r: Response = ledger.client.post("/products", json=body(sku), headers=headers or ledger.auth("staff"))
    return r


def assert_sku_taken(r: Response) -> None:
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["reasons"] == ["SKU_TAKEN"]
    assert [e["field"] for e in problem["errors"]] == ["sku"]


def products_added(ledger: Ledger) -> list[str]:
    """The SKU of every product ever added, in order (a refused create must add none)."""
    store = ledger.runtime.deps.store
    return [
        store.stream(UUID(str(n.originator_id)))[0].fact.sku  # type: ignore[attr-defined]
        for n in store.iter_notifications(topics=["ProductAdded"])
    ]


def test_a_second_product_with_a_taken_sku_is_409_and_adds_nothing(ledger: Ledger) -> None:
    first = create(ledger, "SEMA-2.5")
    assert first.status_code == 201, first.text
    taken = create(ledger, "sema-2.5")
    assert_sku_taken(taken)
    assert taken.json()["detail"] == (
        "Another product of this organization already has the SKU SEMA-2.5 "
        "(SKUs are compared ignoring case and spacing)."
    )
    assert products_added(ledger) == ["SEMA-2.5"]
    assert ledger.call("GET", f"/products/{first.json()['id']}", "staff").json()["sku"] == "SEMA-2.5"


@pytest.mark.parametrize("variant", ["sema-2.5", "  Sema-2.5 ", "SEMA-2.5\t", "ＳＥＭＡ－２．５"])  # noqa: RUF001
def test_skus_differing_only_in_case_spacing_or_width_are_the_same_sku(ledger: Ledger, variant: str) -> None:
    assert create(ledger, "SEMA-2.5").status_code == 201
    assert_sku_taken(create(ledger, variant))
    assert products_added(ledger) == ["SEMA-2.5"]
    assert create(ledger, "SEMA-2.5 mg").status_code == 201  # a different SKU is still welcome


def test_changing_to_a_taken_sku_is_409_and_changes_nothing(ledger: Ledger) -> None:
    sema = create(ledger, "SEMA").json()["id"]
    tirz = create(ledger, "TIRZ").json()["id"]
    refused = ledger.call("PATCH", f"/products/{tirz}", "staff", json={"sku": "sema", "price_cents": 1})
    assert_sku_taken(refused)
    after = ledger.call("GET", f"/products/{tirz}", "staff").json()
    assert (after["sku"], after["price_cents"]) == ("TIRZ", 29900)  # the whole change was refused
    assert ledger.call("GET", f"/products/{sema}", "staff").json()["sku"] == "SEMA"
    assert_sku_taken(create(ledger, "tirz"))  # and TIRZ is still held by its product


def test_a_changed_sku_is_free_for_another_product_and_the_new_one_is_held(ledger: Ledger) -> None:
    sema = create(ledger, "SEMA").json()["id"]
    r = ledger.call("PATCH", f"/products/{sema}", "staff", json={"sku": "SEMA-2.5"})
    assert r.status_code == 200, r.text
    assert r.json()["sku"] == "SEMA-2.5"
    again = create(ledger, "sema")  # the old SKU, released in the change's own batch
    assert again.status_code == 201, again.text
    assert_sku_taken(create(ledger, "SEMA-2.5"))
    assert_sku_taken(ledger.call("PATCH", f"/products/{sema}", "staff", json={"sku": "Sema"}))
    # Its own SKU re-spelt is no conflict with itself, and the new spelling is what it shows.
    respelt = ledger.call("PATCH", f"/products/{sema}", "staff", json={"sku": "sema-2.5"})
    assert respelt.status_code == 200, respelt.text
    assert respelt.json()["sku"] == "sema-2.5"
    assert_sku_taken(create(ledger, "SEMA-2.5"))


def test_an_inactive_product_keeps_its_sku(ledger: Ledger) -> None:
    sema = create(ledger, "SEMA").json()["id"]
    assert ledger.call("PATCH", f"/products/{sema}", "staff", json={"active": False}).status_code == 200
    assert_sku_taken(create(ledger, "SEMA"))


def test_another_organization_may_use_the_same_sku(ledger: Ledger) -> None:
    other = {
        "Authorization": "Bearer "
        + issue_token(
            ledger.runtime.token_secret,
            role="staff",
            subject=None,
            organization_id=OTHER_ORG,
            now=datetime.now(UTC),
        )
    }
    mine = create(ledger, "SEMA")
    theirs = create(ledger, "sema", other)
    assert (mine.status_code, theirs.status_code) == (201, 201), theirs.text
    assert_sku_taken(create(ledger, "SEMA", other))  # ... once per organization
    assert ledger.call("GET", f"/products/{theirs.json()['id']}", "staff").status_code == 404
    assert sku_claim_id(ORG, "SEMA") != sku_claim_id(OTHER_ORG, "SEMA")


def hold_first_claim_reads(store: LedgerStore, claim_id: UUID, parties: int) -> threading.Barrier:
    """Let no request past its first read of the claim until `parties` requests have read it: every
    one of them decides on "nobody holds this SKU", so only the store's append can tell them apart."""
    barrier = threading.Barrier(parties, timeout=20)
    waited: set[int] = set()
    inner = store.stream

    def stream(aggregate_id: UUID, **kw: Any) -> list[Recorded]:
        events = inner(aggregate_id, **kw)
        if aggregate_id == claim_id and threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            barrier.wait()
        return events

    store.stream = stream  # type: ignore[method-assign]
    return barrier


def test_two_racing_creates_of_one_sku_make_one_product_and_one_409(ledger: Ledger) -> None:
    store = ledger.runtime.deps.store
    barrier = hold_first_claim_reads(store, sku_claim_id(ORG, "SEMA"), parties=2)
    headers = ledger.auth("staff")
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda sku: create(ledger, sku, headers), ["SEMA", "sema"]))
    assert not barrier.broken  # both read the claim before either wrote: a real race
    assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
    assert_sku_taken(next(r for r in answers if r.status_code == 409))
    assert len(products_added(ledger)) == 1
    winner = next(r for r in answers if r.status_code == 201).json()
    assert ledger.call("GET", f"/products/{winner['id']}", "staff").status_code == 200


def test_a_product_from_before_sku_claims_still_holds_its_sku(ledger: Ledger) -> None:
    """A product added before claims existed has no claim stream; its SKU is taken all the same,
    and it may re-spell it; once it changes to another SKU, its old one is free."""
    deps = ledger.runtime.deps
    ctx = Context(Actor(kind="system", id="before-claims"), ORG, "c-legacy", "c-legacy")
    legacy = deps.new_uuid()
    batch = deps.batch(ctx)  # the product exactly as it was written before SKUs were claimed
    batch.start(
        legacy, ProductAdded(**body("SEMA-LEGACY"), currency="usd", active=True, requires_intake=False)
    )
    deps.commit(batch)
    assert ledger.runtime.deps.store.stream(sku_claim_id(ORG, "SEMA-LEGACY")) == []

    assert_sku_taken(create(ledger, "sema-legacy"))
    assert products_added(ledger) == ["SEMA-LEGACY"]
    staff = ledger.auth("staff")
    resp = ledger.client.patch(f"/products/{legacy}", json={"sku": "Sema-Legacy"}, headers=staff)
    assert resp.status_code == 200, resp.text
    resp = ledger.client.patch(f"/products/{legacy}", json={"sku": "SEMA-NEW"}, headers=staff)
    assert resp.status_code == 200, resp.text
    assert create(ledger, "SEMA-LEGACY").status_code == 201
    assert_sku_taken(create(ledger, "sema-new"))
