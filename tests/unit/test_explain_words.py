"""Status explanations are right in every state, for the patient and for CS.

The table is generated from the domain's enumerations — every order status x every hold reason
(the gate's checks, the medical review's blocking codes, a cancelled consult) x both readers — so a
new status, hold, situation, cause or action without words fails here, not in front of a patient.
"""

from __future__ import annotations

import re
from typing import get_args

import pytest

from api.explain_words import (
    ACTION_WORDS,
    CAUSE_WORDS,
    SITUATION_WORDS,
    STATUS_WORDS,
    Audience,
    explanation_out,
)
from domain import gate
from domain import medical_review as mr
from domain.catalog import LabRequirement
from domain.events import Fact
from domain.explain import Action, Cause, Situation, cause_of, explain
from domain.invoices import InvoiceIssued
from domain.orders import (
    ConsultCanceled,
    FulfillmentHeld,
    IntakeRecorded,
    LabRequisitionRecorded,
    LabResultsRecorded,
    MedicalReviewBlocked,
    MedicalReviewSubmitted,
    OrderCanceled,
    OrderDelivered,
    OrderRefunded,
    OrderShipped,
    PharmacyOrderAccepted,
    PharmacyOrderRejected,
    RxWritten,
)
from domain.status import OrderStatus, order_status
from tests.unit.given import at, charged, given, line, order, placed, product

AUDIENCES: tuple[Audience, ...] = get_args(Audience)
PRODUCT = product(requires_intake=True, lab=LabRequirement(method="at_home_kit"))
PLACED = placed("pat1", line(PRODUCT))
PAID: list[Fact] = [PLACED, charged()]
CLEARED: list[Fact] = [
    *PAID,
    IntakeRecorded(status="accepted"),
    LabRequisitionRecorded(),
    LabResultsRecorded(),
]
RX = RxWritten(master_id=mr.master_id_for("o1"), med_ids=("m1",), vendor_event_id="rx1", written_at=at(5))
SHIPPED = OrderShipped(carrier="UPS", tracking="1Z999", vendor_event_id="s1", shipped_at=at(9))

# One history per status the status function can reach. AWAITING_SHIPMENT is a status of the contract
# that no pharmacy wire format reports yet (the pharmacy has no "label made" event); its words are
# still checked below.
REACHED: dict[OrderStatus, list[Fact]] = {
    "PENDING_PAYMENT": [PLACED],
    "CANCELED": [PLACED, OrderCanceled(reason="duplicate order")],
    "REFUNDED": [*PAID, OrderRefunded(reason="patient asked", amount_cents=100)],
    "REJECTED": [
        *CLEARED,
        RX,
        PharmacyOrderRejected(partner="belmar", reason="out of stock", vendor_event_id="r"),
    ],
    "AWAITING_REQUIREMENTS": PAID,
    "AWAITING_REQUISITION": [*PAID, IntakeRecorded(status="accepted")],
    "AWAITING_RESULTS": [*PAID, IntakeRecorded(status="accepted"), LabRequisitionRecorded()],
    "AWAITING_SCRIPT": CLEARED,
    "AWAITING_FULFILLMENT": [*CLEARED, RX],
    "PROCESSING": [
        *CLEARED,
        RX,
        PharmacyOrderAccepted(partner="belmar", external_id="x", vendor_event_id="a"),
    ],
    "SHIPPED": [*CLEARED, RX, SHIPPED],
    "COMPLETED": [*CLEARED, RX, SHIPPED, OrderDelivered(vendor_event_id="d", delivered_at=at(10))],
}
NEVER_REACHED = {"AWAITING_SHIPMENT"}

GATE_HOLDS = (*gate.CHECKS, gate.RX_MEDID_MISMATCH)
SUBMITTED = MedicalReviewSubmitted(
    master_id=mr.master_id_for("o1"), trigger="t", visit_type="refill", med_ids=("m1",), attempt=1
)


def hold_facts(hold: str) -> list[Fact]:
    if hold == "CONSULT_CANCELED":
        return [
            SUBMITTED,
            ConsultCanceled(master_id=SUBMITTED.master_id, vendor_event_id="c", reason="no show"),
        ]
    if hold in GATE_HOLDS:
        return [FulfillmentHeld(failed_checks=(hold,), passed_checks=())]
    return [MedicalReviewBlocked(master_id=SUBMITTED.master_id, trigger="t", reasons=(hold,), attempt=1)]


HOLDS = (None, *GATE_HOLDS, *mr.BLOCKING_CODES, "CONSULT_CANCELED")
INVOICE = given("invoice", "inv1", InvoiceIssued(order_ids=("o1",), amount_cents=100, currency="usd"))


def test_every_status_is_reached_by_a_history_except_the_one_no_vendor_reports() -> None:
    assert set(REACHED) | NEVER_REACHED == set(get_args(OrderStatus))
    assert {s: order_status(order(*facts)) for s, facts in REACHED.items()} == {s: s for s in REACHED}


@pytest.mark.parametrize("audience", AUDIENCES)
def test_every_enumerated_value_has_words(audience: Audience) -> None:
    assert set(STATUS_WORDS[audience]) == set(get_args(OrderStatus))
    assert set(SITUATION_WORDS[audience]) == set(get_args(Situation))
    assert set(CAUSE_WORDS[audience]) == set(get_args(Cause))
    assert set(ACTION_WORDS) == set(get_args(Action))


@pytest.mark.parametrize("hold", [h for h in HOLDS if h not in (None, "CONSULT_CANCELED")])
def test_every_known_hold_has_a_cause(hold: str) -> None:
    assert cause_of(hold) != "UNRECOGNISED"


def _texts(said: dict[str, object]) -> list[str]:
    found = [str(said["summary"]), *map(str, said["because"])]  # type: ignore[call-overload]
    for b in said["waiting_for"]:  # type: ignore[attr-defined]
        found += [b["reason"], b["fix"]]
    return found


@pytest.mark.parametrize("status", sorted(REACHED))
@pytest.mark.parametrize("hold", HOLDS, ids=str)
@pytest.mark.parametrize("audience", AUDIENCES)
def test_the_explanation_fits_the_state_and_the_reader(
    status: OrderStatus, hold: str | None, audience: Audience
) -> None:
    history = REACHED[status]
    held = order(*history, *(hold_facts(hold) if hold else []))
    said = explanation_out(explain(held, INVOICE), audience)
    texts = _texts(said)
    assert all(t.strip() for t in texts)
    assert not [t for t in texts if re.search(r"\{\w+\}", t)], "an unfilled placeholder"
    summary = str(said["summary"])
    if audience == "patient":
        assert not [t for t in texts if "the patient" in t.lower() or "patient's" in t.lower()]
        assert not [t for t in texts if re.search(r"\b(POST|PATCH|GET) /", t)], "routes are for staff"
    state = order_status(held)
    if state == "AWAITING_FULFILLMENT" and held.held_by:
        assert "cleared" not in summary.lower()
        assert "hold" in summary.lower()
    if state == "AWAITING_SCRIPT" and held.medical_review_status == "canceled":
        assert "canceled" in summary.lower()
        assert "waiting for the prescription" not in summary.lower()
        assert "reviewing" not in summary.lower()
    if state == "AWAITING_SCRIPT" and held.medical_review_status == "blocked":
        assert any(word in summary.lower() for word in ("blocked", "delayed"))


def test_a_written_prescription_closes_the_review_status() -> None:
    submitted = order(*CLEARED, SUBMITTED)
    assert submitted.medical_review_status == "submitted"
    assert order(*CLEARED, SUBMITTED, RX).medical_review_status == "rx_written"


def test_a_pharmacy_configured_hold_never_reads_as_cleared() -> None:
    held = order(*CLEARED, RX, *hold_facts(gate.PHARMACY_CONFIGURED))
    for audience in AUDIENCES:
        summary = str(explanation_out(explain(held, INVOICE), audience)["summary"])
        assert "pharmacy" in summary.lower()
        assert "cleared" not in summary.lower()
