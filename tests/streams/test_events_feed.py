"""GET /events: API.md's shape, one organization's events only, filtered by type, resumable by next_after."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from domain.events import Actor, is_bookkeeping
from service import catalog
from service.unit import Context
from tests.support.app import ORG, Ledger

FIELDS = {
    "position",
    "id",
    "type",
    "version",
    "aggregate_type",
    "aggregate_id",
    "organization_id",
    "occurred_at",
    "actor",
    "correlation_id",
    "causation_id",
    "data",
}


def test_feed_pages_in_order_and_shows_only_the_callers_organization(sqlite_ledger: Ledger) -> None:
    product = sqlite_ledger.product()
    patient = sqlite_ledger.patient()
    other = Context(Actor(kind="staff", id="x"), "org_other", str(uuid4()), "c")
    foreign = catalog.register_patient(
        sqlite_ledger.runtime.deps, other, name="Q", email="q@example.com", state="CA"
    )
    sqlite_ledger.paid_order(patient, [(product["id"], 1)])

    seen: list[dict[str, Any]] = []
    after = 0
    while True:
        r = sqlite_ledger.call("GET", f"/events?after={after}&limit=3", "service")
        assert r.status_code == 200, r.text
        page = r.json()
        seen.extend(page["events"])
        if page["next_after"] == after:
            break
        after = page["next_after"]
    store = sqlite_ledger.runtime.deps.store
    mine = [
        n.id
        for n in store.iter_notifications()
        if str(n.originator_id) != foreign.id and not is_bookkeeping(n.topic)  # claims: keys, SKUs
    ]
    assert [e["position"] for e in seen] == mine
    assert all(set(e) == FIELDS and e["organization_id"] == ORG for e in seen)
    assert foreign.id not in {e["aggregate_id"] for e in seen}
    placed = next(e for e in seen if e["type"] == "OrderPlaced")
    assert placed["aggregate_type"] == "order"
    assert placed["data"]["patient_id"] == patient["id"]
    assert placed["actor"] == {"kind": "staff", "id": "staff"}
    assert placed["version"] == 1


def test_feed_filters_by_type_and_checks_roles_and_input(sqlite_ledger: Ledger) -> None:
    product = sqlite_ledger.product()
    sqlite_ledger.paid_order(sqlite_ledger.patient(), [(product["id"], 1)])
    r = sqlite_ledger.call("GET", "/events?types=OrderPlaced,PaymentSucceeded", "ops")
    assert r.status_code == 200
    assert [e["type"] for e in r.json()["events"]] == ["OrderPlaced", "PaymentSucceeded"]
    assert sqlite_ledger.call("GET", "/events", "cs").status_code == 403
    assert sqlite_ledger.client.get("/events").status_code == 401
    assert sqlite_ledger.call("GET", "/events?limit=0", "service").status_code == 422
    assert sqlite_ledger.call("GET", "/events?after=-1", "service").status_code == 422
    r = sqlite_ledger.call("GET", "/events?types=Bogus", "service")
    assert r.status_code == 422
    assert r.json()["reasons"] == ["UNKNOWN_EVENT_TYPE"]


def test_bookkeeping_stays_out_of_the_feed_unless_asked_for_by_type(sqlite_ledger: Ledger) -> None:
    product, patient = sqlite_ledger.product(), sqlite_ledger.patient()
    order = sqlite_ledger.paid_order(patient, [(product["id"], 1)])
    r = sqlite_ledger.call(
        "POST",
        f"/orders/{order['id']}/refills",
        "patient",
        patient["id"],
        headers={"Idempotency-Key": "feed-1"},
        json={"product_id": product["id"], "payment_method_id": patient["cards"][0]},
    )
    assert r.status_code == 201, r.text
    store = sqlite_ledger.runtime.deps.store
    claimed = [n.id for n in store.iter_notifications(topics=["IdempotencyKeyClaimed"])]
    assert claimed, "the refill's key is claimed in the log"
    everything = sqlite_ledger.call("GET", "/events?limit=1000", "service").json()
    assert "IdempotencyKeyClaimed" not in {e["type"] for e in everything["events"]}
    assert everything["next_after"] == store.last_position()
    asked = sqlite_ledger.call("GET", "/events?types=IdempotencyKeyClaimed", "service").json()
    assert [e["position"] for e in asked["events"]] == claimed


def test_the_openapi_document_describes_the_feed_the_stream_and_exports(sqlite_ledger: Ledger) -> None:
    paths = sqlite_ledger.client.get("/openapi.json").json()["paths"]
    assert "get" in paths["/events"]
    assert "text/event-stream" in paths["/events/stream"]["get"]["responses"]["200"]["content"]
    assert "post" in paths["/compliance/exports"]
    assert "202" in paths["/compliance/exports"]["post"]["responses"]
    assert "get" in paths["/compliance/exports/{export_id}"]
