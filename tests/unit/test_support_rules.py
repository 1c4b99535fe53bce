"""Given facts, when the support rules run, then the escalations and blockers CS sees (pure, no store)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from adapters.eventlog import decode_fast
from adapters.eventstore import decode_notification, encode_event
from api.explain_words import blocker_words
from domain.escalations import OrderFacts, evaluate
from domain.events import Actor, Fact, Meta, Recorded
from domain.explain import blockers, explain
from domain.invoices import Invoice, InvoiceIssued, PaymentAttempted, PaymentFailed, evolve_invoice
from domain.orders import (
    FulfillmentReleased,
    MedicalReviewBlocked,
    Order,
    OrderCharged,
    OrderLine,
    OrderPlaced,
    evolve_order,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LINE = OrderLine(
    product_id="p1",
    sku="S",
    name="Sema",
    kind="medication",
    quantity=1,
    unit_price_cents=100,
    requires_intake=False,
)


def order(*facts: Fact, context: str = "CHECKOUT") -> Order:
    state = None
    placed = OrderPlaced(
        number="R-1",
        patient_id="pat",
        invoice_id="inv",
        lines=(LINE,),
        currency="usd",
        source="EMR",
        source_context=context,
        placed_at=NOW,
    )
    for fact in (placed, *facts):
        state = evolve_order(state, fact, "o1")
    assert state is not None
    return state


def invoice(*facts: Fact) -> Invoice:
    state = None
    issued = InvoiceIssued(order_ids=("o1",), amount_cents=100, currency="usd", patient_id="pat")
    for fact in (issued, *facts):
        state = evolve_invoice(state, fact, "inv")
    assert state is not None
    return state


def codes(o: Order, i: Invoice | None, original: Order | None = None) -> set[str]:
    return set(evaluate(OrderFacts(order=o, invoice=i, now=NOW, original=original)))


def test_a_healthy_paid_order_raises_nothing_and_waits_for_review() -> None:
    paid = order(OrderCharged(invoice_id="inv", charged_at=NOW))
    assert codes(paid, invoice()) == set()
    assert [b.code for b in blockers(paid, invoice())] == ["MEDICAL_REVIEW_NOT_SUBMITTED"]


def test_blocked_review_after_payment_escalates_and_names_the_fix() -> None:
    stuck = order(
        OrderCharged(invoice_id="inv", charged_at=NOW),
        MedicalReviewBlocked(master_id="m", trigger="t", reasons=("MED_ID_MISSING",), attempt=1),
    )
    assert codes(stuck, invoice()) == {"MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT"}
    said = explain(stuck, invoice())
    assert said.status == "AWAITING_SCRIPT"
    first = said.waiting_for[0]
    assert (first.code, first.cause, first.action) == (
        "MED_ID_MISSING",
        "MED_ID_MISSING",
        "FIX_PRODUCT_AND_RETRY_REVIEW",
    )
    _, fix = blocker_words(first, "o1", "staff")
    assert "PATCH /products/p1" in fix
    assert "/orders/o1/medical-review/retry" in fix


def test_release_without_prescription_escalates() -> None:
    early = order(
        OrderCharged(invoice_id="inv", charged_at=NOW),
        FulfillmentReleased(partner="belmar", passed_checks=()),
    )
    assert codes(early, invoice()) == {"FULFILLMENT_BEFORE_RX"}


def test_a_refill_without_its_link_escalates() -> None:
    assert codes(order(context="PATIENT_REFILL"), invoice()) == {"REFILL_MISSING_ORIGINAL_LINK"}


def test_declined_payment_says_pay_the_same_invoice() -> None:
    attempted = PaymentAttempted(
        attempt=1,
        gateway="fake",
        payment_method_id="pm",
        idempotency_key="k",
        amount_cents=100,
        attempted_at=NOW,
    )
    declined = invoice(
        attempted, PaymentFailed(attempt=1, gateway="fake", decline_code="card_declined", message="No.")
    )
    (blocker,) = blockers(order(), declined)
    assert (blocker.code, blocker.action, blocker.detail) == ("PAYMENT_DECLINED", "PAY_INVOICE", "No.")
    assert "do not request another refill" in blocker_words(blocker, "o1", "staff")[1]
    reason, fix = blocker_words(blocker, "o1", "patient")
    assert reason == "Your card was declined: No."
    assert "no need to request another refill" in fix


def test_fast_decode_equals_the_store_decoder() -> None:
    from eventsourcing.persistence import Notification

    meta = Meta(uuid.uuid4(), "org", NOW, Actor(kind="patient", id="pat"), "c", "d")
    placed = OrderPlaced(
        number="R-1",
        patient_id="pat",
        invoice_id="inv",
        lines=(LINE,),
        currency="usd",
        source="EMR",
        source_context="CHECKOUT",
        placed_at=NOW,
    )
    for fact in (placed, OrderCharged(invoice_id="inv", charged_at=NOW)):
        n = Notification(
            id=1,
            originator_id=uuid.uuid4(),
            originator_version=1,
            topic=fact.TYPE,
            state=encode_event(Recorded(uuid.uuid4(), 1, fact, meta)),
        )
        assert decode_fast(n) == decode_notification(n)
