"""Each eligibility rule of seed 001, refused through the API with its own code, and the order
listing's refill block saying the same thing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.payments.fake import FakeGateway
from api.app import create_app
from domain.events import Actor
from ledger.bootstrap import Wiring, build_runtime
from service.catalog import configure_organization
from service.unit import Context
from tests.api.test_refill_flow import listing_block, refill
from tests.support.app import ORG, Ledger, ledger_settings


@pytest.fixture
def two_gateway_ledger(tmp_path: Path) -> Iterator[Ledger]:
    """The organization can switch its active gateway between two processors."""
    settings = ledger_settings(tmp_path)
    gateway = FakeGateway()
    runtime = build_runtime(settings, Wiring(gateways={"fake": gateway, "legacy": FakeGateway("legacy")}))
    with TestClient(create_app(runtime)) as client:
        yield Ledger(runtime, client, gateway, settings)


def switch_gateway(ledger: Ledger, name: str) -> None:
    ctx = Context(Actor(kind="staff", id="admin"), ORG, "test", "test")
    configure_organization(ledger.runtime.deps, ctx, "Test org", name)


def refused(ledger: Ledger, patient: dict[str, Any], order_id: str, product_id: str, card: str) -> list[str]:
    r = refill(ledger, patient, order_id, product_id, card, key=None)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()["reasons"]  # type: ignore[no-any-return]


def test_unpaid_order_is_not_refillable(ledger: Ledger) -> None:
    product, patient = ledger.product(), ledger.patient()
    placed = ledger.call(
        "POST",
        "/orders",
        "staff",
        json={"patient_id": patient["id"], "lines": [{"product_id": product["id"], "quantity": 1}]},
    ).json()
    order_id = placed["order"]["id"]
    assert "NOT_PAID" in refused(ledger, patient, order_id, product["id"], patient["cards"][0])
    block = listing_block(ledger, patient, order_id)
    assert block["eligible"] is False and "NOT_PAID" in block["reasons"] and block["products"] == []


def test_refunded_order_status_is_not_eligible(ledger: Ledger) -> None:
    product, patient = ledger.product(), ledger.patient()
    order = ledger.paid_order(patient, [(product["id"], 1)])
    assert listing_block(ledger, patient, order["id"])["eligible"] is True
    r = ledger.call("POST", f"/orders/{order['id']}/refund", "staff", json={"reason": "patient asked"})
    assert r.status_code == 200 and r.json()["status"] == "REFUNDED"
    assert refused(ledger, patient, order["id"], product["id"], patient["cards"][0]) == [
        "STATUS_NOT_ELIGIBLE"
    ]
    assert listing_block(ledger, patient, order["id"])["reasons"] == ["STATUS_NOT_ELIGIBLE"]
    assert len(ledger.gateway.refunds()) == 1


def test_canceled_order_is_not_eligible(sqlite_ledger: Ledger) -> None:
    ledger = sqlite_ledger
    product, patient = ledger.product(), ledger.patient()
    placed = ledger.call(
        "POST",
        "/orders",
        "staff",
        json={"patient_id": patient["id"], "lines": [{"product_id": product["id"], "quantity": 1}]},
    ).json()
    r = ledger.call("POST", f"/orders/{placed['order']['id']}/cancel", "staff", json={"reason": "duplicate"})
    assert (
        r.status_code == 200 and r.json()["status"] == "CANCELED" and r.json()["invoice"]["status"] == "VOID"
    )
    reasons = refused(ledger, patient, placed["order"]["id"], product["id"], patient["cards"][0])
    assert set(reasons) == {"NOT_PAID", "STATUS_NOT_ELIGIBLE"}


def test_product_not_on_the_order(ledger: Ledger) -> None:
    on_order, elsewhere = ledger.product(sku="ON"), ledger.product(sku="ELSEWHERE")
    patient = ledger.patient()
    order = ledger.paid_order(patient, [(on_order["id"], 1)])
    assert refused(ledger, patient, order["id"], elsewhere["id"], patient["cards"][0]) == [
        "PRODUCT_NOT_ON_ORDER"
    ]
    block = listing_block(ledger, patient, order["id"])
    assert block["eligible"] and [p["product_id"] for p in block["products"]] == [on_order["id"]]


def test_inactive_product(ledger: Ledger) -> None:
    product, patient = ledger.product(), ledger.patient()
    order = ledger.paid_order(patient, [(product["id"], 1)])
    ledger.call("PATCH", f"/products/{product['id']}", "staff", json={"active": False})
    assert refused(ledger, patient, order["id"], product["id"], patient["cards"][0]) == ["PRODUCT_INACTIVE"]
    block = listing_block(ledger, patient, order["id"])
    assert block == {**block, "eligible": False, "reasons": ["PRODUCT_INACTIVE"], "products": []}


def test_no_saved_method_for_the_active_gateway(two_gateway_ledger: Ledger) -> None:
    ledger = two_gateway_ledger
    product, patient = ledger.product(), ledger.patient()
    order = ledger.paid_order(patient, [(product["id"], 1)])
    switch_gateway(ledger, "legacy")
    assert refused(ledger, patient, order["id"], product["id"], patient["cards"][0]) == [
        "NO_SAVED_PAYMENT_METHOD"
    ]
    block = listing_block(ledger, patient, order["id"])
    assert block["reasons"] == ["NO_SAVED_PAYMENT_METHOD"] and block["payment_methods"] == []


def test_method_of_another_gateway_or_patient_is_not_usable(two_gateway_ledger: Ledger) -> None:
    ledger = two_gateway_ledger
    product, patient, stranger = ledger.product(), ledger.patient(), ledger.patient()
    order = ledger.paid_order(patient, [(product["id"], 1)])
    r = ledger.call(
        "POST",
        f"/patients/{patient['id']}/payment-methods",
        "staff",
        json={"gateway": "legacy", "token": "pm_card_visa"},
    )
    legacy_card = r.json()["id"]
    assert refused(ledger, patient, order["id"], product["id"], legacy_card) == ["PAYMENT_METHOD_NOT_USABLE"]
    assert refused(ledger, patient, order["id"], product["id"], stranger["cards"][0]) == [
        "PAYMENT_METHOD_NOT_USABLE"
    ]
    # Nothing was created by the refusals.
    orders = ledger.call("GET", f"/patients/{patient['id']}/orders", "patient", patient["id"]).json()[
        "orders"
    ]
    assert [o["id"] for o in orders] == [order["id"]]
    assert listing_block(ledger, patient, order["id"])["eligible"] is True


def test_malformed_refill_request_names_the_field(sqlite_ledger: Ledger) -> None:
    ledger = sqlite_ledger
    patient = ledger.patient()
    r = ledger.call("POST", "/orders/whatever/refills", "patient", patient["id"], json={"product_id": 5})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"product_id", "payment_method_id"} <= fields
    bad_json = ledger.client.post(
        "/orders/x/refills",
        content=b"{nope",
        headers={**ledger.auth("patient", patient["id"]), "content-type": "application/json"},
    )
    assert bad_json.status_code == 400 and bad_json.json()["reasons"] == ["MALFORMED_JSON"]
