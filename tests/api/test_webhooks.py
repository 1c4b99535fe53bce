"""Inbound webhooks over HTTP: signatures on the raw body, stored raw, one effect per event whatever
the delivery order or count, and status never moving backwards."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from adapters.beluga import parse_beluga_webhook
from adapters.payments.fake import FakeGateway
from adapters.payments.stripe_webhooks import sign_stripe_payload
from adapters.pharmacy import parse_pharmacy_webhook
from adapters.webhook_signature import WebhookPayloadError, sign
from api.webhooks import BELUGA_BODY, PHARMACY_BODY
from tests.support.vendors import (
    BELUGA_SECRET,
    ORG,
    PHARMACY_SECRET,
    STRIPE_SECRET,
    Stack,
    paid_refill,
    running_stack,
    seed_catalog,
)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path) as running:
        yield running


def post_signed(
    stack: Stack, path: str, payload: dict[str, Any], secret: str, *, at: int | None = None
) -> httpx.Response:
    body = json.dumps(payload).encode()
    header = sign(secret, body, at if at is not None else int(time.time()))
    return stack.http.post(
        stack.url + path, content=body, headers={"X-Signature": header, "Content-Type": "application/json"}
    )


def types_in(stack: Stack, order_id: str) -> list[str]:
    return [e.fact.TYPE for e in stack.runtime.deps.store.stream(UUID(order_id))]


def webhooks_stored(stack: Stack) -> int:
    return len(list(stack.runtime.deps.store.iter_notifications(topics=["WebhookReceived"])))


def beluga_event(event: str, master_id: str, event_id: str, meds: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    return {
        "event": event,
        "eventId": event_id,
        "masterId": master_id,
        "occurredAt": "2025-01-02T03:04:05Z",
        "medsPrescribed": [{"medId": m, "name": m} for m in meds],
        "visitOutcome": None,
    }


def pharmacy_event(order_id: str, status: str, event_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "referenceId": order_id,
        "orderId": "LF-1",
        "status": status,
        "occurredAt": "2025-01-03T00:00:00Z",
        **extra,
    }


def test_a_bad_stale_or_missing_signature_is_401_and_changes_nothing(stack: Stack) -> None:
    seeded = seed_catalog(stack, med_id="med-sema", requires_intake=False)
    order_id = seeded["original"]["id"]
    before = stack.runtime.deps.store.last_position()
    rx = beluga_event("RX_WRITTEN", f"mr-{order_id}", "evt-bad", ["med-sema"])
    answers = [
        post_signed(stack, "/webhooks/beluga", rx, "not-the-secret"),
        post_signed(stack, "/webhooks/beluga", rx, BELUGA_SECRET, at=int(time.time()) - 301),
        stack.http.post(stack.url + "/webhooks/beluga", json=rx),
        post_signed(
            stack, "/webhooks/pharmacies/belmar", pharmacy_event(order_id, "shipped", "e"), BELUGA_SECRET
        ),
        stack.http.post(
            stack.url + "/webhooks/stripe",
            content=b"{}",
            headers={"Stripe-Signature": sign_stripe_payload(b"{}", "whsec_wrong", int(time.time()))},
        ),
    ]
    assert [r.status_code for r in answers] == [401] * 5
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in answers)
    assert answers[0].json()["reasons"] == ["INVALID_SIGNATURE"]
    # Nothing stored, nothing applied (the policy worker may still be busy with the paid order).
    after = [n.topic for n in stack.runtime.deps.store.notifications(before, 1000)]
    assert not [t for t in after if t in ("WebhookReceived", "RxWritten", "OrderShipped")], after


def test_beluga_and_pharmacy_events_twice_and_out_of_order_leave_one_effect_each(stack: Stack) -> None:
    seeded = seed_catalog(stack, med_id="med-sema", requires_intake=False)
    order_id = paid_refill(stack, seeded)["id"]
    submitted = stack.wait_order(order_id, lambda o: o["medical_review"]["status"] == "submitted")
    master_id = submitted["medical_review"]["master_id"]

    conclusion = beluga_event("CONSULT_CONCLUDED", master_id, "evt-2")
    rx = beluga_event("RX_WRITTEN", master_id, "evt-1", ["med-sema"])
    answers = [
        post_signed(stack, "/webhooks/beluga", p, BELUGA_SECRET) for p in (conclusion, rx, rx, conclusion)
    ]
    assert [(r.status_code, r.json()["duplicate"]) for r in answers] == [
        (200, False),
        (200, False),
        (200, True),
        (200, True),
    ]
    assert [r.json()["outcome"] for r in answers] == [
        "applied",
        "applied",
        "already_applied",
        "already_applied",
    ]
    stack.wait_order(order_id, lambda o: o["fulfillment"]["status"] == "submitted")

    path = "/webhooks/pharmacies/belmar"
    delivered = pharmacy_event(order_id, "delivered", "p-3")
    shipped = pharmacy_event(order_id, "shipped", "p-2", carrier="UPS", tracking="1ZTRACK")
    accepted = pharmacy_event(order_id, "accepted", "p-1")
    statuses = []
    for payload in (delivered, shipped, delivered, accepted, shipped, accepted):
        assert post_signed(stack, path, payload, PHARMACY_SECRET).status_code == 200
        statuses.append(stack.order(order_id)["status"])
    assert statuses == ["COMPLETED"] * 6  # the furthest fact wins; late ones never drag it back
    order = stack.order(order_id)
    assert (order["fulfillment"]["carrier"], order["fulfillment"]["tracking"]) == ("UPS", "1ZTRACK")
    types = types_in(stack, order_id)
    for once in (
        "RxWritten",
        "ConsultConcluded",
        "PharmacyOrderAccepted",
        "OrderShipped",
        "OrderDelivered",
        "FulfillmentReleased",
        "PharmacyOrderSubmitted",
        "MedicalReviewSubmitted",
    ):
        assert types.count(once) == 1, (once, types)
    assert webhooks_stored(stack) == 5  # two Beluga + three pharmacy deliveries, each stored once


def test_a_webhook_for_another_partner_or_an_unknown_partner_changes_nothing(stack: Stack) -> None:
    seeded = seed_catalog(stack, med_id="med-sema", requires_intake=False)
    order_id = paid_refill(stack, seeded)["id"]
    stack.wait_order(order_id, lambda o: o["medical_review"]["status"] == "submitted")
    r = post_signed(
        stack, "/webhooks/pharmacies/nowhere", pharmacy_event(order_id, "shipped", "x"), PHARMACY_SECRET
    )
    assert r.status_code == 404
    r = post_signed(
        stack, "/webhooks/pharmacies/belmar", {"eventId": "x", "status": "teleported"}, PHARMACY_SECRET
    )
    assert r.status_code == 422
    assert "OrderShipped" not in types_in(stack, order_id)


def _stripe_event(event_id: str, kind: str, invoice_id: str, attempt: int) -> bytes:
    obj = {
        "id": "pi_123",
        "object": "payment_intent",
        "amount": 29900,
        "metadata": {"invoice_id": invoice_id, "attempt": str(attempt), "organization_id": ORG},
    }
    if kind == "payment_intent.payment_failed":
        obj["last_payment_error"] = {"decline_code": "card_declined", "message": "Your card was declined."}
    return json.dumps({"id": event_id, "object": "event", "type": kind, "data": {"object": obj}}).encode()


def post_stripe(stack: Stack, body: bytes) -> httpx.Response:
    return stack.http.post(
        stack.url + "/webhooks/stripe",
        content=body,
        headers={
            "Stripe-Signature": sign_stripe_payload(body, STRIPE_SECRET, int(time.time())),
            "Content-Type": "application/json",
        },
    )


def test_stripe_success_settles_a_charge_the_gateway_timed_out_on_once_and_a_late_failure_does_not_undo_it(
    stack: Stack,
) -> None:
    seeded = seed_catalog(stack, med_id="med-sema", requires_intake=False)
    r = stack.call(
        "POST",
        "/orders",
        "staff",
        json={
            "patient_id": seeded["patient"]["id"],
            "lines": [{"product_id": seeded["product"]["id"], "quantity": 1}],
        },
    )
    order_id, invoice_id = r.json()["order"]["id"], r.json()["invoice"]["id"]
    gateway = stack.runtime.deps.gateways["fake"]
    assert isinstance(gateway, FakeGateway)
    gateway.fail_next(after_charging=True)  # the card is charged, but our call times out
    r = stack.call(
        "POST", f"/invoices/{invoice_id}/payments", "staff", json={"payment_method_id": seeded["card"]}
    )
    # Outcome unknown: the attempt stays pending (a false "declined" would invite a second charge).
    assert (r.status_code, r.json()["payment"]["status"]) == (200, "pending")
    assert stack.order(order_id)["status"] == "PENDING_PAYMENT"

    succeeded = _stripe_event("evt_ok", "payment_intent.succeeded", invoice_id, 1)
    first, again = post_stripe(stack, succeeded), post_stripe(stack, succeeded)
    assert (first.status_code, first.json()["outcome"], first.json()["duplicate"]) == (200, "applied", False)
    assert (again.status_code, again.json()["outcome"], again.json()["duplicate"]) == (
        200,
        "already_applied",
        True,
    )
    late_failure = post_stripe(
        stack, _stripe_event("evt_late", "payment_intent.payment_failed", invoice_id, 1)
    )
    assert late_failure.json()["outcome"] == "already_applied"
    order = stack.order(order_id)
    assert order["invoice"]["status"] == "PAID"
    assert (
        order["status"] == "AWAITING_SCRIPT"
    )  # paid now: on to medical review, never straight to a pharmacy
    assert types_in(stack, order_id).count("OrderCharged") == 1
    assert (
        post_stripe(stack, _stripe_event("evt_other", "customer.created", invoice_id, 1)).json()["outcome"]
        == "ignored"
    )


@pytest.mark.parametrize(
    ("schema", "parse", "body"),
    [
        (BELUGA_BODY, parse_beluga_webhook, beluga_event("CONSULT_CONCLUDED", "mr-1", "evt-1", ["med-1"])),
        (PHARMACY_BODY, parse_pharmacy_webhook, pharmacy_event("order-1", "shipped", "evt-2")),
    ],
)
def test_the_documented_webhook_bodies_are_what_the_parsers_read(
    schema: dict[str, Any], parse: Callable[[bytes], object], body: dict[str, Any]
) -> None:
    # The OpenAPI document describes each vendor's body (the fuzzer builds deliveries from it): every
    # field it calls required is one the parser refuses to do without, naming it; no other field is.
    assert set(body) == set(schema["properties"]) - {"reason", "carrier", "tracking"}
    parse(json.dumps(body).encode())
    for name in body:
        without = json.dumps({k: v for k, v in body.items() if k != name}).encode()
        if name in schema["required"]:
            with pytest.raises(WebhookPayloadError) as refused:
                parse(without)
            assert refused.value.field == name
        else:
            parse(without)
