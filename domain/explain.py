"""Why an order is where it is, what it waits for, and what clears it — as typed values.

`status_reasons` retraces `order_status` check by check, so "explain" can never disagree with the
status itself; `blockers` names what the order waits for, whether a person must act, and the action
that clears it. Nothing here is a sentence or a route: the API, the console and the CLI turn these
values into words for their reader (`api/explain_words.py`), so the same fact reads "your intake"
to a patient and "the patient's intake" to CS, and a route change never touches the domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from domain.invoices import Invoice
from domain.orders import Order
from domain.status import OrderStatus, needs_lab, order_status

# What kind of wait a blocker is. `code` on a blocker is this, or — for a blocked medical review and a
# held fulfillment — the vendor-facing code the review or the gate reported (API-stable).
Situation = Literal[
    "CHARGED_BUT_NOT_UPDATED",
    "INVOICE_MISSING",
    "AWAITING_PAYMENT",
    "PAYMENT_IN_PROGRESS",
    "PAYMENT_DECLINED",
    "INTAKE_UNDER_REVIEW",
    "INTAKE_MISSING",
    "INTAKE_NEEDS_CORRECTION",
    "LAB_REQUISITION_MISSING",
    "LAB_RESULTS_MISSING",
    "MEDICAL_REVIEW_BLOCKED",
    "MEDICAL_REVIEW_FAILED",
    "AWAITING_PRESCRIPTION",
    "CONSULT_CONCLUDED_WITHOUT_RX",
    "CONSULT_CANCELED",
    "MEDICAL_REVIEW_NOT_SUBMITTED",
    "PHARMACY_REJECTED",
    "PHARMACY_SUBMISSION_FAILED",
    "POLICY_STEP_FAILED",
    "AWAITING_PHARMACY_ACCEPTANCE",
    "FULFILLMENT_HELD",
    "AWAITING_PHARMACY_SUBMISSION",
    "FULFILLMENT_NOT_RELEASED",
    "COMPOUNDING",
    "AWAITING_CARRIER",
    "IN_TRANSIT",
]

# The plain cause behind a blocked review or a held fulfillment, classified from the reported code.
Cause = Literal[
    "INTAKE_NEEDS_CORRECTION",
    "INTAKE_REJECTED",
    "INTAKE_INCOMPLETE",
    "VISIT_TYPE_MISSING",
    "PRESCRIPTION_MISSING",
    "PRESCRIPTION_FOR_OTHER_DRUG",
    "MED_ID_MISSING",
    "PHARMACY_NOT_CONFIGURED",
    "LAB_METHOD_MISSING",
    "LAB_INCOMPLETE",
    "NOT_PAID",
    "ORDER_CLOSED",
    "REVIEW_INCOMPLETE",
    "UNRECOGNISED",
]

# What clears a blocker. Each maps to one API operation (or to waiting) in the presentation layer.
Action = Literal[
    "WAIT",
    "PAY_INVOICE",
    "RECORD_INTAKE",
    "ISSUE_LAB_REQUISITION",
    "CHASE_LAB_RESULTS",
    "FIX_PRODUCT_AND_RETRY_REVIEW",
    "FIX_PRODUCT",
    "RETRY_MEDICAL_REVIEW",
    "START_NEW_CONSULT",
    "CHECK_CONSULT",
    "CANCEL_OR_REFUND",
    "RESUBMIT_TO_PHARMACY",
    "CHECK_WORKER",
    "REDRIVE_STEP",
    "ESCALATE_TO_DEVELOPMENT",
    "NONE",
]

# Keyword → cause, matched on words rather than exact codes so that a new code from the gate or the
# review policy still lands on a sensible cause. Order matters: the first match wins.
_CAUSES: tuple[tuple[tuple[str, ...], Cause], ...] = (
    (("CORRECTION",), "INTAKE_NEEDS_CORRECTION"),
    (("REJECT",), "INTAKE_REJECTED"),
    (("INTAKE",), "INTAKE_INCOMPLETE"),
    (("VISIT",), "VISIT_TYPE_MISSING"),
    (("MISMATCH",), "PRESCRIPTION_FOR_OTHER_DRUG"),
    (("RX", "PRESCRIPTION", "SCRIPT"), "PRESCRIPTION_MISSING"),
    (("MED_ID", "MEDID", "DRUG"), "MED_ID_MISSING"),
    (("PHARMACY",), "PHARMACY_NOT_CONFIGURED"),
    (("LAB_METHOD",), "LAB_METHOD_MISSING"),
    (("LAB",), "LAB_INCOMPLETE"),
    (("PAID", "PAYMENT", "INVOICE"), "NOT_PAID"),
    (("CANCEL", "REFUND", "ORDER_OPEN"), "ORDER_CLOSED"),
    (("REVIEW", "CONSULT"), "REVIEW_INCOMPLETE"),
)
PRODUCT_CAUSES: frozenset[Cause] = frozenset(
    {"VISIT_TYPE_MISSING", "MED_ID_MISSING", "PHARMACY_NOT_CONFIGURED", "LAB_METHOD_MISSING"}
)


def cause_of(code: str) -> Cause:
    upper = code.upper()
    for words, cause in _CAUSES:
        if any(w in upper for w in words):
            return cause
    return "UNRECOGNISED"


@dataclass(frozen=True)
class Blocker:
    """One thing the order waits for; the detail fields carry what the words need, nothing else."""

    code: str
    situation: Situation
    action: Action
    needs_action: bool  # a person must do something (rather than wait on a vendor or the carrier)
    cause: Cause | None = None
    detail: str | None = None  # a vendor's own words: the gateway's message, Beluga's or the pharmacy's
    gateway: str | None = None
    invoice_id: str | None = None
    product_id: str | None = None
    partner: str | None = None
    carrier: str | None = None
    tracking: str | None = None


def _product_of(order: Order) -> str:
    return order.placed.refill_product_id or (order.placed.lines[0].product_id if order.placed.lines else "")


def _caused(order: Order, code: str, situation: Situation, *, after_fix: Action) -> Blocker:
    """A blocked review or a held fulfillment: the action follows from the cause."""
    cause = cause_of(code)
    action: Action
    if cause in PRODUCT_CAUSES:
        action = "FIX_PRODUCT_AND_RETRY_REVIEW" if after_fix == "RETRY_MEDICAL_REVIEW" else "FIX_PRODUCT"
    elif cause in ("INTAKE_NEEDS_CORRECTION", "INTAKE_INCOMPLETE"):
        action = "RECORD_INTAKE"
    elif cause == "LAB_INCOMPLETE":
        action = "ISSUE_LAB_REQUISITION"
    elif cause == "PRESCRIPTION_FOR_OTHER_DRUG":
        action = "CHECK_CONSULT"
    elif cause == "INTAKE_REJECTED":
        action = "CANCEL_OR_REFUND"
    elif cause == "NOT_PAID":
        action = "PAY_INVOICE"
    elif cause == "ORDER_CLOSED":
        action = "NONE"
    elif cause in ("PRESCRIPTION_MISSING", "REVIEW_INCOMPLETE"):
        action = "WAIT"
    else:
        action = after_fix
    return Blocker(
        code,
        situation,
        action,
        needs_action=action not in ("WAIT", "NONE"),
        cause=cause,
        product_id=_product_of(order),
        invoice_id=order.placed.invoice_id,
    )


def blockers(order: Order, invoice: Invoice | None) -> list[Blocker]:
    """What the order waits for now; empty when it is closed or delivered."""
    if invoice is not None and invoice.succeeded_attempt is not None and not order.paid:
        return [
            Blocker("CHARGED_BUT_NOT_UPDATED", "CHARGED_BUT_NOT_UPDATED", "ESCALATE_TO_DEVELOPMENT", True)
        ]
    status = order_status(order)
    if order.failed_steps and status not in ("CANCELED", "REFUNDED", "COMPLETED"):
        # A dead letter: a worker step failed for this order and is being retried with backoff.
        return [
            Blocker(
                "POLICY_STEP_FAILED",
                "POLICY_STEP_FAILED",
                "REDRIVE_STEP",
                True,
                detail=f"{f.step} failed {f.attempts}x ({f.error}); "
                f"next try {f.next_try_at:%Y-%m-%d %H:%M:%S} UTC",
                partner=order.fulfillment_partner,
            )
            for f in order.failed_steps
        ]
    match status:
        case "CANCELED" | "REFUNDED" | "COMPLETED":
            return []
        case "REJECTED":
            return _rejected(order)
        case "PENDING_PAYMENT":
            return _payment_blockers(invoice)
        case "AWAITING_REQUIREMENTS":
            return [_intake_blocker(order)]
        case "AWAITING_REQUISITION":
            return [
                Blocker("LAB_REQUISITION_MISSING", "LAB_REQUISITION_MISSING", "ISSUE_LAB_REQUISITION", True)
            ]
        case "AWAITING_RESULTS":
            return [Blocker("LAB_RESULTS_MISSING", "LAB_RESULTS_MISSING", "CHASE_LAB_RESULTS", False)]
        case "AWAITING_SCRIPT":
            return _review_blockers(order)
        case "AWAITING_FULFILLMENT":
            return _fulfillment_blockers(order)
        case "PROCESSING":
            return [Blocker("COMPOUNDING", "COMPOUNDING", "WAIT", False, partner=order.fulfillment_partner)]
        case "AWAITING_SHIPMENT":
            return [Blocker("AWAITING_CARRIER", "AWAITING_CARRIER", "WAIT", False)]
        case "SHIPPED":
            return [
                Blocker(
                    "IN_TRANSIT", "IN_TRANSIT", "WAIT", False, carrier=order.carrier, tracking=order.tracking
                )
            ]
    return []


def _rejected(order: Order) -> list[Blocker]:
    # Only a paid order the pharmacy rejected has a way forward (resubmit or refund); a rejected intake
    # or consult is a clinical decision and the order is closed.
    if order.pharmacy_rejected_reason is None or not order.paid or order.refunded:
        return []
    return [
        Blocker(
            "PHARMACY_REJECTED",
            "PHARMACY_REJECTED",
            "RESUBMIT_TO_PHARMACY",
            True,
            detail=order.pharmacy_rejected_reason,
            partner=order.fulfillment_partner,
        )
    ]


def _intake_blocker(order: Order) -> Blocker:
    if order.intake_status == "submitted":
        return Blocker("INTAKE_UNDER_REVIEW", "INTAKE_UNDER_REVIEW", "RECORD_INTAKE", True)
    code: Situation = (
        "INTAKE_NEEDS_CORRECTION" if order.intake_status == "needs_correction" else "INTAKE_MISSING"
    )
    return Blocker(code, code, "RECORD_INTAKE", True, cause=cause_of(code))


def _payment_blockers(invoice: Invoice | None) -> list[Blocker]:
    if invoice is None:
        return [Blocker("INVOICE_MISSING", "INVOICE_MISSING", "ESCALATE_TO_DEVELOPMENT", True)]
    last = invoice.last_attempt
    if last is None:
        return [Blocker("AWAITING_PAYMENT", "AWAITING_PAYMENT", "PAY_INVOICE", True, invoice_id=invoice.id)]
    if last.outcome == "pending":
        return [
            Blocker(
                "PAYMENT_IN_PROGRESS",
                "PAYMENT_IN_PROGRESS",
                "WAIT",
                False,
                gateway=last.gateway,
                invoice_id=invoice.id,
            )
        ]
    return [
        Blocker(
            "PAYMENT_DECLINED",
            "PAYMENT_DECLINED",
            "PAY_INVOICE",
            True,
            detail=last.message,
            gateway=last.gateway,
            invoice_id=invoice.id,
        )
    ]


def _review_blockers(order: Order) -> list[Blocker]:
    match order.medical_review_status:
        case "blocked":
            return [
                _caused(order, reason, "MEDICAL_REVIEW_BLOCKED", after_fix="RETRY_MEDICAL_REVIEW")
                for reason in order.blocked_reasons or ("UNKNOWN",)
            ]
        case "failed":
            return [
                Blocker(
                    "MEDICAL_REVIEW_FAILED",
                    "MEDICAL_REVIEW_FAILED",
                    "RETRY_MEDICAL_REVIEW",
                    True,
                    detail=order.medical_review_error,
                )
            ]
        case "submitted":
            return [Blocker("AWAITING_PRESCRIPTION", "AWAITING_PRESCRIPTION", "WAIT", False)]
        case "concluded" | "rx_written":
            return [
                Blocker(
                    "CONSULT_CONCLUDED_WITHOUT_RX",
                    "CONSULT_CONCLUDED_WITHOUT_RX",
                    "CHECK_CONSULT",
                    True,
                    detail=order.consult_outcome,
                )
            ]
        case "canceled":
            return [
                Blocker(
                    "CONSULT_CANCELED",
                    "CONSULT_CANCELED",
                    "START_NEW_CONSULT",
                    True,
                    detail=order.consult_canceled_reason,
                )
            ]
    return [
        Blocker("MEDICAL_REVIEW_NOT_SUBMITTED", "MEDICAL_REVIEW_NOT_SUBMITTED", "RETRY_MEDICAL_REVIEW", True)
    ]


def _fulfillment_blockers(order: Order) -> list[Blocker]:
    if order.pharmacy_error is not None:
        return [
            Blocker(
                "PHARMACY_SUBMISSION_FAILED",
                "PHARMACY_SUBMISSION_FAILED",
                # Refused (4xx): a new attempt may go; an outage: the same key is retried by itself.
                "RESUBMIT_TO_PHARMACY" if order.pharmacy_error_permanent else "WAIT",
                True,
                detail=order.pharmacy_error,
                partner=order.fulfillment_partner,
            )
        ]
    if order.pharmacy_submitted:
        return [
            Blocker(
                "AWAITING_PHARMACY_ACCEPTANCE",
                "AWAITING_PHARMACY_ACCEPTANCE",
                "WAIT",
                False,
                partner=order.fulfillment_partner,
            )
        ]
    if order.held_by:
        return [_caused(order, check, "FULFILLMENT_HELD", after_fix="WAIT") for check in order.held_by]
    if order.fulfillment_released:
        return [
            Blocker(
                "AWAITING_PHARMACY_SUBMISSION",
                "AWAITING_PHARMACY_SUBMISSION",
                "CHECK_WORKER",
                False,
                partner=order.fulfillment_partner,
            )
        ]
    return [Blocker("FULFILLMENT_NOT_RELEASED", "FULFILLMENT_NOT_RELEASED", "CHECK_WORKER", False)]


# The facts behind a status, in the order `order_status` weighs them.
ReasonCode = Literal[
    "CANCELED",
    "REFUNDED",
    "PHARMACY_REJECTED",
    "INTAKE_REJECTED",
    "CONSULT_REJECTED",
    "DELIVERED",
    "SHIPPED",
    "NOT_PAID",
    "PAID",
    "PHARMACY_ACCEPTED",
    "INTAKE",
    "LAB",
    "NO_PRESCRIPTION",
    "PRESCRIPTION_WRITTEN",
    "FULFILLMENT",
]


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    detail: str | None = None  # a free text the facts carry (a cancel reason), or a state word
    at: datetime | None = None
    step: str | None = None  # for LAB: requisition | results
    done: bool | None = None
    carrier: str | None = None
    tracking: str | None = None


def status_reasons(order: Order, invoice: Invoice | None) -> list[Reason]:
    if order.canceled_reason is not None:
        return [Reason("CANCELED", order.canceled_reason)]
    if order.refunded:
        return [Reason("REFUNDED")]
    if order.pharmacy_rejected_reason is not None:
        return [Reason("PHARMACY_REJECTED", order.pharmacy_rejected_reason)]
    if order.intake_status == "rejected":
        return [Reason("INTAKE_REJECTED")]
    if order.consult_outcome == "rejected":
        return [Reason("CONSULT_REJECTED")]
    if order.delivered:
        return [Reason("DELIVERED")]
    if order.shipped:
        return [Reason("SHIPPED", carrier=order.carrier, tracking=order.tracking)]
    if not order.paid:
        last = invoice.last_attempt if invoice else None
        return [Reason("NOT_PAID", last.outcome if last else None)]
    said = [Reason("PAID", at=order.charged_at)]
    if order.accepted or order.processing:
        return [*said, Reason("PHARMACY_ACCEPTED")]
    if order.requires_intake:
        said.append(Reason("INTAKE", order.intake_status, done=order.intake_status == "accepted"))
        if order.intake_status != "accepted":
            return said
    for step, done in (("requisition", order.lab_requisition), ("results", order.lab_results)):
        if needs_lab(order, step):
            said.append(Reason("LAB", step=step, done=done))
            if not done:
                return said
    if order.is_medication:
        if not order.rx_med_ids:
            return [*said, Reason("NO_PRESCRIPTION", order.medical_review_status)]
        said.append(Reason("PRESCRIPTION_WRITTEN"))
    fulfillment = (
        "submitted"
        if order.pharmacy_submitted
        else "released"
        if order.fulfillment_released
        else "held"
        if order.held_by
        else "not_released"
    )
    return [*said, Reason("FULFILLMENT", fulfillment)]


@dataclass(frozen=True)
class Explanation:
    order_id: str
    order_number: str
    status: OrderStatus
    because: list[Reason]
    waiting_for: list[Blocker]


def explain(order: Order, invoice: Invoice | None) -> Explanation:
    return Explanation(
        order.id, order.number, order_status(order), status_reasons(order, invoice), blockers(order, invoice)
    )
