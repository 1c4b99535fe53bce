"""Hostile input (issue 10, defect 7): limits are checked before parsing and every refusal is a 4xx
problem, never a 500 and never a half-written record.

- bodies over 1 MB (256 KB on webhooks) → 413, declared or streamed, before a signature is computed;
- JSON nested 3,000 deep → 400 on the API; a signed webhook that deep is kept as received (422);
- a signed Stripe body that is no event object (an array, a string, not JSON) is kept as received (422);
- no type coercion: `quantity: true` or "1" is refused;
- bidirectional control characters in names are refused; one line per product on an order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from adapters.payments.stripe_webhooks import sign_stripe_payload
from adapters.webhook_signature import sign
from domain.webhooks import WebhookReceived
from tests.support.app import Ledger, running_ledger


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with running_ledger(tmp_path) as running:
        yield running


def _problem(r: object, status: int, reason: str | None = None) -> None:
    assert getattr(r, "status_code", None) == status, getattr(r, "text", "")
    assert r.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    if reason is not None:
        assert reason in r.json()["reasons"]  # type: ignore[attr-defined]


def _stored_webhooks(ledger: Ledger) -> list[WebhookReceived]:
    store = ledger.runtime.deps.store
    return [
        e.fact
        for n in store.iter_notifications(topics=["WebhookReceived"])
        for e in store.stream(UUID(str(n.originator_id)))
        if isinstance(e.fact, WebhookReceived)
    ]


def test_bodies_over_the_limit_are_413_declared_or_streamed_and_before_a_webhook_signature(
    ledger: Ledger,
) -> None:
    before = ledger.runtime.deps.store.last_position()
    big = b'{"patient_id": "' + b"x" * (1024 * 1024 + 10) + b'", "lines": []}'
    declared = ledger.client.post("/orders", content=big, headers=ledger.auth("staff"))
    _problem(declared, 413, "BODY_TOO_LARGE")

    def chunks() -> Iterator[bytes]:
        yield b'{"patient_id": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    streamed = ledger.client.post("/orders", content=chunks(), headers=ledger.auth("staff"))
    _problem(streamed, 413, "BODY_TOO_LARGE")

    # A webhook over 256 KB: 413 although its signature is wrong — the size is checked first.
    hook = b'{"eventId": "e", "pad": "' + b"y" * (256 * 1024) + b'"}'
    signed_wrong = ledger.client.post(
        "/webhooks/beluga",
        content=hook,
        headers={"X-Signature": "t=1,v1=00", "Content-Type": "application/json"},
    )
    _problem(signed_wrong, 413)
    assert ledger.runtime.deps.store.last_position() == before


def test_json_nested_three_thousand_deep_is_a_4xx_and_a_signed_one_is_kept(ledger: Ledger) -> None:
    deep = b'{"patient_id": "p", "lines": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    assert len(deep) < 7000
    r = ledger.client.post("/orders", content=deep, headers=ledger.auth("staff"))
    _problem(r, 400, "JSON_TOO_DEEP")

    secret = ledger.runtime.webhook_secrets["beluga"]
    signed = ledger.client.post(
        "/webhooks/beluga",
        content=deep,
        headers={"X-Signature": sign(secret, deep, int(time.time())), "Content-Type": "application/json"},
    )
    _problem(signed, 422)
    (kept,) = _stored_webhooks(ledger)  # not lost: stored as received, for whoever investigates
    assert kept.event_type == "unparseable" and kept.body.encode() == deep


@pytest.mark.parametrize(
    "body", [b"[null, null]", b'"evt_1"', b"7", b"null", b"not json", b"[" * 3000 + b"]" * 3000]
)
def test_a_signed_stripe_body_not_an_event_object_is_kept_and_a_4xx(ledger: Ledger, body: bytes) -> None:
    # Found by fuzzing: a correctly signed JSON array went to the SDK's event constructor, which calls
    # `.get` on it (500, nothing stored); signed non-JSON was told its signature was bad (401).
    secret = ledger.runtime.webhook_secrets["stripe"]
    signed = ledger.client.post(
        "/webhooks/stripe",
        content=body,
        headers={
            "Stripe-Signature": sign_stripe_payload(body, secret, int(time.time())),
            "Content-Type": "application/json",
        },
    )
    _problem(signed, 422, "VALIDATION_FAILED")
    assert signed.json()["errors"][0]["field"] == "body"
    (kept,) = _stored_webhooks(ledger)
    assert kept.event_type == "unparseable" and kept.body.encode() == body


@pytest.mark.parametrize("quantity", [True, "1", 1.0, "one"])
def test_no_type_coercion_a_quantity_is_an_integer(ledger: Ledger, quantity: object) -> None:
    product = ledger.product()
    patient = ledger.patient()
    before = ledger.runtime.deps.store.last_position()
    r = ledger.call(
        "POST",
        "/orders",
        "staff",
        json={"patient_id": patient["id"], "lines": [{"product_id": product["id"], "quantity": quantity}]},
    )
    _problem(r, 422, "VALIDATION_FAILED")
    assert any(e["field"].endswith("quantity") for e in r.json()["errors"])
    assert ledger.runtime.deps.store.last_position() == before


@pytest.mark.parametrize("currency", ["xyz", "USD", "us", "xts"])
def test_a_currency_the_gateway_cannot_charge_is_refused(ledger: Ledger, currency: str) -> None:
    body = {"sku": "S-9", "name": "Sema", "price_cents": 100, "kind": "non_rx", "currency": currency}
    r = ledger.call("POST", "/products", "staff", json=body)
    _problem(r, 422)
    assert [e["field"] for e in r.json()["errors"]] == ["currency"]
    assert ledger.call("POST", "/products", "staff", json={**body, "currency": "eur"}).status_code == 201


def test_bidirectional_controls_in_names_and_a_product_twice_on_an_order_are_refused(ledger: Ledger) -> None:
    r = ledger.call(
        "POST",
        "/patients",
        "staff",
        json={"name": "Ada \u202egnp.exe", "email": "ada@example.com", "state": "TX"},
    )
    _problem(r, 422)
    assert [e["field"] for e in r.json()["errors"]] == ["name"]
    r = ledger.call(
        "POST",
        "/products",
        "staff",
        json={"sku": "S-1", "name": "Sema\u2066", "price_cents": 1, "kind": "non_rx"},
    )
    _problem(r, 422)

    product, patient = ledger.product(), ledger.patient()
    line = {"product_id": product["id"], "quantity": 1}
    before = ledger.runtime.deps.store.last_position()
    r = ledger.call("POST", "/orders", "staff", json={"patient_id": patient["id"], "lines": [line, line]})
    _problem(r, 422)
    assert "twice" in json.dumps(r.json())
    assert ledger.runtime.deps.store.last_position() == before
