"""Given an order's facts, when the escalation conditions and `decide` run, then what is raised or resolved
(pure, no store); and the report block CS copies, word for word."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from itertools import count
from typing import Any

from api.presentation import escalation_report_text, escalation_why
from domain.catalog import MedicalReviewMapping, Product
from domain.escalation_report import EscalationReport
from domain.escalations import (
    CONDITIONS,
    Details,
    EscalationRaised,
    EscalationResolved,
    OrderEscalations,
    OrderFacts,
    decide,
    evaluate,
    evolve_escalations,
)
from domain.events import Fact
from domain.invoices import PaymentAttempted, PaymentSucceeded
from domain.orders import (
    ConsultCanceled,
    MedicalReviewBlocked,
    MedicalReviewSubmitted,
    Order,
    OrderCharged,
    OrderRefunded,
    PharmacyCancellationFailed,
    PharmacyCancellationRequested,
    PharmacyOrderRejected,
    PharmacyOrderSubmitted,
    RxWritten,
)
from tests.unit.test_support_rules import NOW, invoice, order

PAID = OrderCharged(invoice_id="inv", charged_at=NOW)
BLOCKED = MedicalReviewBlocked(master_id="m", trigger="t", reasons=("MED_ID_MISSING",), attempt=1)
PRODUCT = Product(
    id="p1",
    sku="S",
    name="Sema",
    price_cents=100,
    currency="usd",
    active=True,
    kind="medication",
    requires_intake=False,
    lab=None,
    medical_review=MedicalReviewMapping(visit_type="v", med_id="med-sema"),
    pharmacy=None,
)


def found(o: Order, **kw: Any) -> dict[str, Details]:
    return evaluate(OrderFacts(order=o, invoice=invoice(), now=NOW, **kw))


def ids() -> Callable[[], str]:
    numbers = count(1)
    return lambda: f"esc-{next(numbers)}"


def fold(state: OrderEscalations | None, facts: list[Fact]) -> OrderEscalations | None:
    for fact in facts:
        state = evolve_escalations(state, fact, "agg")
    return state


def test_raised_once_while_it_holds_then_resolved_when_it_clears() -> None:
    blocked = order(PAID, BLOCKED)
    new_id = ids()
    first = decide(None, blocked, found(blocked), new_id, NOW)
    assert [(type(f).__name__, getattr(f, "kind", None)) for f in first] == [
        ("EscalationRaised", "MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT")
    ]
    raised = first[0]
    assert isinstance(raised, EscalationRaised)
    assert (raised.order_id, raised.order_number, raised.details.reasons) == (
        "o1",
        "R-1",
        ("MED_ID_MISSING",),
    )
    state = fold(None, first)
    assert decide(state, blocked, found(blocked), new_id, NOW) == []  # evaluated again: nothing new
    retried = order(
        PAID,
        BLOCKED,
        MedicalReviewSubmitted(master_id="m", trigger="t", visit_type="v", med_ids=("x",), attempt=2),
    )
    later = NOW + timedelta(minutes=5)
    cleared = decide(state, retried, found(retried), new_id, later)
    assert cleared == [
        EscalationResolved(
            escalation_id=raised.escalation_id,
            kind="MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT",
            order_id="o1",
            resolved_at=later,
        )
    ]
    state = fold(state, cleared)
    assert state is not None and not state.open
    again = decide(state, blocked, found(blocked), new_id, later)
    assert isinstance(again[0], EscalationRaised) and again[0].escalation_id != raised.escalation_id


def test_consult_cancelled_after_payment_until_refunded() -> None:
    cancel = ConsultCanceled(master_id="m", vendor_event_id="v1", reason="patient unreachable")
    canceled = order(PAID, cancel)
    details = found(canceled)["CONSULT_CANCELED_AFTER_PAYMENT"]
    assert details.message == "patient unreachable"
    assert "CONSULT_CANCELED_AFTER_PAYMENT" not in found(order(cancel))  # not paid: nothing to escalate
    refunded = order(PAID, cancel, OrderRefunded(reason="r", amount_cents=100))
    assert "CONSULT_CANCELED_AFTER_PAYMENT" not in found(refunded)


def test_a_prescription_for_another_med_id() -> None:
    wrong = order(PAID, RxWritten(master_id="m", med_ids=("med-other",), vendor_event_id="v", written_at=NOW))
    details = found(wrong, products={"p1": PRODUCT})["RX_FOR_ANOTHER_MED_ID"]
    assert (details.med_ids, details.expected_med_ids) == (("med-other",), ("med-sema",))
    right = order(PAID, RxWritten(master_id="m", med_ids=("med-sema",), vendor_event_id="v", written_at=NOW))
    assert "RX_FOR_ANOTHER_MED_ID" not in found(right, products={"p1": PRODUCT})


def test_a_paid_order_the_pharmacy_rejected() -> None:
    rejected = order(PAID, PharmacyOrderRejected(partner="belmar", reason="Bad SIG", vendor_event_id="v"))
    assert found(rejected)["PHARMACY_REJECTED_PAID_ORDER"].message == "Bad SIG"
    unpaid = order(PharmacyOrderRejected(partner="belmar", reason="Bad SIG", vendor_event_id="v"))
    assert "PHARMACY_REJECTED_PAID_ORDER" not in found(unpaid)


def test_a_charge_left_pending_longer_than_the_setting() -> None:
    attempted = PaymentAttempted(
        attempt=1,
        gateway="fake",
        payment_method_id="pm",
        idempotency_key="k",
        amount_cents=100,
        attempted_at=NOW,
    )
    pending = invoice(attempted)
    o = order()

    def at(minutes: int) -> dict[str, Details]:
        facts = OrderFacts(
            order=o,
            invoice=pending,
            now=NOW + timedelta(minutes=minutes),
            pending_charge_after=timedelta(minutes=15),
        )
        return evaluate(facts)

    assert "CHARGE_PENDING" not in at(14)
    assert at(16)["CHARGE_PENDING"].since == NOW
    settled = invoice(
        attempted, PaymentSucceeded(attempt=1, gateway="fake", gateway_reference="ch", paid_at=NOW)
    )
    assert "CHARGE_PENDING" not in evaluate(
        OrderFacts(order=o, invoice=settled, now=NOW + timedelta(hours=1))
    )


def test_a_refill_charged_at_a_price_the_product_did_not_have() -> None:
    refill = order(context="PATIENT_REFILL")
    then = Product(**{**PRODUCT.__dict__, "price_cents": 250})
    details = found(refill, product_then=then)["PRICE_OR_ELIGIBILITY_SUSPECT"]
    assert "PRICE_NOT_CATALOG_PRICE" in details.reasons
    assert (details.expected_cents, details.actual_cents) == (250, 100)
    assert "charged $1.00 while the product's price then was $2.50" in escalation_why(
        "PRICE_OR_ELIGIBILITY_SUSPECT", details
    )


def test_every_condition_has_a_sentence() -> None:
    for kind in CONDITIONS:
        sentence = escalation_why(kind, Details(reasons=("SUBMISSION_FAILED",), message="boom"))
        assert sentence.endswith(".") and len(sentence) > 30, kind


def test_the_report_is_exactly_the_seed_block() -> None:
    report = EscalationReport(
        patient_name="Ada Lovelace",
        patient_email="ada@example.com",
        original_order_number="R-ORIG",
        refill_order_number="R-REFL",
        refill_product_name="Semaglutide",
        invoice_status="OPEN",
        payment_status="failed",
        gateway_error="Your card was declined.",
        order_status="PENDING_PAYMENT",
        review_required=True,
        review_status="blocked",
        review_error=None,
        review_blocked=("MED_ID_MISSING",),
        button_visible=False,
        button_reasons=("NOT_PAID",),
    )
    assert escalation_report_text(report).splitlines() == [
        "Patient: Ada Lovelace ada@example.com",
        "Original order: R-ORIG",
        "Refill order: R-REFL",
        "Refill product: Semaglutide",
        "Refill invoice status: OPEN",
        "Payment status / gateway error: failed / Your card was declined.",
        "Current refill order status: PENDING_PAYMENT",
        "Beluga submit status / error: blocked / the product has no Beluga drug mapping (medId)",
        "Patient sees the refill button: no (the original order is not paid)",
    ]


def test_a_pharmacy_that_did_not_cancel_a_refunded_order() -> None:
    sent = (PAID, PharmacyOrderSubmitted(partner="belmar", external_id="BLM-1"))
    refunded = OrderRefunded(reason="r", amount_cents=100)
    failed = PharmacyCancellationFailed(partner="belmar", error="already shipped")
    details = found(order(*sent, refunded, failed))["PHARMACY_CANCEL_FAILED"]
    assert (details.reasons, details.message) == (("REFUNDED",), "already shipped")
    assert "refunded after it reached the pharmacy" in escalation_why("PHARMACY_CANCEL_FAILED", details)
    asked = PharmacyCancellationRequested(partner="belmar", canceled=True)
    assert "PHARMACY_CANCEL_FAILED" not in found(order(*sent, refunded, asked))


def test_a_rejected_paid_clinic_line_is_its_own_kind() -> None:
    rejected = PharmacyOrderRejected(partner="belmar", reason="SIG unreadable", vendor_event_id="v")
    portal = order(PAID, rejected)
    clinic = replace(portal, placed=portal.placed.model_copy(update={"source": "CLINIC_CART"}))
    assert "PHARMACY_REJECTED_PAID_ORDER" in found(portal)
    kinds = found(clinic)
    assert "PHARMACY_REJECTED_PAID_ORDER" not in kinds
    assert kinds["REJECTED_PAID_CLINIC_LINE"].message == "SIG unreadable"
