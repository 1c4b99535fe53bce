"""The status function and the invoice's payment rules."""

from __future__ import annotations

import pytest

from domain.catalog import LabRequirement
from domain.errors import Conflict
from domain.invoices import InvoiceIssued, PaymentAttempted, PaymentFailed, PaymentSucceeded, start_payment
from domain.orders import (
    IntakeRecorded,
    LabRequisitionRecorded,
    OrderDelivered,
    OrderFact,
    OrderShipped,
    PharmacyOrderAccepted,
    RxWritten,
)
from domain.status import order_status
from tests.unit.given import at, charged, given, line, order, placed, product


def test_status_follows_the_facts_in_the_seed_order() -> None:
    p = product(requires_intake=True)
    facts: list[OrderFact] = [placed("pat", line(p))]
    expected = [
        "PENDING_PAYMENT",
        "AWAITING_REQUIREMENTS",
        "AWAITING_SCRIPT",
        "AWAITING_FULFILLMENT",
        "PROCESSING",
        "SHIPPED",
        "COMPLETED",
    ]
    steps = [
        charged(),
        IntakeRecorded(status="accepted"),
        RxWritten(master_id="m", med_ids=("m1",), vendor_event_id="e1", written_at=at(2)),
        PharmacyOrderAccepted(partner="belmar", external_id="x", vendor_event_id="e2"),
        OrderShipped(carrier="ups", tracking="1Z", vendor_event_id="e3", shipped_at=at(3)),
        OrderDelivered(vendor_event_id="e4", delivered_at=at(4)),
    ]
    seen = [order_status(order(*facts))]
    for step in steps:
        facts.append(step)
        seen.append(order_status(order(*facts)))
    assert seen == expected


def test_a_late_acceptance_after_shipping_does_not_move_status_back() -> None:
    p = product()
    o = order(
        placed("pat", line(p)),
        charged(),
        RxWritten(master_id="m", med_ids=("m1",), vendor_event_id="e1", written_at=at(2)),
        OrderShipped(carrier=None, tracking=None, vendor_event_id="e3", shipped_at=at(3)),
        PharmacyOrderAccepted(partner="belmar", external_id="x", vendor_event_id="e2"),
    )
    assert order_status(o) == "SHIPPED"


def test_intake_needing_correction_and_labs_wait_for_requirements() -> None:
    p = product(requires_intake=True, lab=LabRequirement(method="kit"))
    assert (
        order_status(order(placed("pat", line(p)), charged(), IntakeRecorded(status="needs_correction")))
        == "AWAITING_REQUIREMENTS"
    )
    accepted = [placed("pat", line(p)), charged(), IntakeRecorded(status="accepted")]
    assert order_status(order(*accepted)) == "AWAITING_REQUISITION"
    assert order_status(order(*accepted, LabRequisitionRecorded())) == "AWAITING_RESULTS"


def issued() -> InvoiceIssued:
    return InvoiceIssued(order_ids=("o1",), amount_cents=29900, currency="usd", patient_id="pat")


def test_one_attempt_in_flight_at_a_time_and_a_paid_invoice_is_final() -> None:
    invoice = given("invoice", "inv1", issued())
    first = start_payment(invoice, gateway="fake", payment_method_id="pm", now=at(0))
    assert (first.attempt, first.idempotency_key) == (1, "invoice-inv1-attempt-1")
    pending = given("invoice", "inv1", issued(), first)
    with pytest.raises(Conflict) as busy:
        start_payment(pending, gateway="fake", payment_method_id="pm", now=at(1))
    assert busy.value.reasons == ("PAYMENT_IN_PROGRESS",)
    paid = given(
        "invoice",
        "inv1",
        issued(),
        first,
        PaymentSucceeded(attempt=1, gateway="fake", gateway_reference="pi", paid_at=at(1)),
    )
    assert paid.status == "PAID"
    with pytest.raises(Conflict) as done:
        start_payment(paid, gateway="fake", payment_method_id="pm", now=at(2))
    assert done.value.reasons == ("INVOICE_ALREADY_PAID",)


def test_a_failed_attempt_leaves_the_invoice_open_for_a_new_attempt() -> None:
    attempt = PaymentAttempted(
        attempt=1,
        gateway="fake",
        payment_method_id="pm",
        idempotency_key="k",
        amount_cents=29900,
        attempted_at=at(0),
    )
    invoice = given(
        "invoice",
        "inv1",
        issued(),
        attempt,
        PaymentFailed(attempt=1, gateway="fake", decline_code="card_declined", message="declined"),
    )
    assert invoice.status == "OPEN" and invoice.attempts[0].message == "declined"
    assert start_payment(invoice, gateway="fake", payment_method_id="pm2", now=at(1)).attempt == 2


def test_an_interrupted_attempt_is_redriven_under_its_own_key() -> None:
    first = PaymentAttempted(
        attempt=1,
        gateway="fake",
        payment_method_id="pm",
        idempotency_key="invoice-inv1-attempt-1",
        amount_cents=29900,
        attempted_at=at(0),
    )
    stale = given("invoice", "inv1", issued(), first)
    again = start_payment(stale, gateway="fake", payment_method_id="other", now=at(10))
    assert (again.attempt, again.idempotency_key, again.payment_method_id) == (1, first.idempotency_key, "pm")
