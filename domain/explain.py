"""Why an order is where it is, what it waits for, and what clears it: plain words from its facts.

`status_reasons` retraces `order_status` check by check, so "explain" can never disagree with the
status itself; `blockers` names what the order waits for, whether a person must act, and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.invoices import Invoice
from domain.orders import Order
from domain.status import explain_status, needs_lab, order_status

RETRY_REVIEW = "then retry the submission (POST /orders/{order_id}/medical-review/retry)."
# Keyword → (plain cause, fix) for medical-review blocking reasons and fulfillment-gate checks. Matched on
# words rather than exact codes so that a new code from the gate or the review policy still reads sensibly.
_CAUSES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (
        ("CORRECTION",),
        "the patient's intake needs correction",
        "Ask the patient to correct the intake and record it as accepted (POST /orders/{order_id}/intake), ",
    ),
    (
        ("REJECT",),
        "the intake was rejected",
        "A clinician must review the rejected intake; the order cannot go on "
        "as is — cancel or refund it, or record a new accepted intake, ",
    ),
    (
        ("INTAKE",),
        "the required intake is missing or not accepted",
        "Get the patient's intake completed and recorded as accepted (POST /orders/{order_id}/intake), ",
    ),
    (
        ("VISIT",),
        "the product has no Beluga visit type",
        "Set the product's medical_review.visit_type (PATCH /products/{product_id}), ",
    ),
    (
        ("RX", "PRESCRIPTION", "SCRIPT"),
        "no prescription (RX_WRITTEN) confirms the product yet",
        "Wait for Beluga's RX_WRITTEN; if the consult is closed, ask medical operations to write the "
        "script, ",
    ),
    (
        ("MED_ID", "MEDID", "DRUG"),
        "the product has no Beluga drug mapping (medId)",
        "Set the product's medical_review.med_id (PATCH /products/{product_id}), ",
    ),
    (
        ("PHARMACY",),
        "the product has no pharmacy configuration",
        "Set the product's pharmacy partner and product code (PATCH /products/{product_id}), ",
    ),
    (
        ("LAB",),
        "the required lab method is missing",
        "Set the product's lab method (PATCH /products/{product_id}), ",
    ),
    (("PAID", "PAYMENT", "INVOICE"), "the invoice is not paid", "Have the open invoice paid, "),
    (
        ("CANCEL", "REFUND", "ORDER_OPEN"),
        "the order is canceled or refunded",
        "Nothing to do: the order is closed, ",
    ),
    (
        ("REVIEW", "CONSULT"),
        "the medical review is not complete",
        "Wait for Beluga to conclude the consult, ",
    ),
)


@dataclass(frozen=True)
class Blocker:
    code: str
    reason: str
    fix: str
    needs_action: (
        bool  # a person must do something (as opposed to waiting on a vendor or the patient's carrier)
    )

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "reason": self.reason, "fix": self.fix, "needs_action": self.needs_action}


def describe_cause(code: str, order: Order, *, then: str) -> tuple[str, str]:
    """(plain cause, fix) for a blocking reason code or a failed gate check."""
    product_id = order.placed.refill_product_id or (
        order.placed.lines[0].product_id if order.placed.lines else ""
    )
    upper = code.upper()
    for words, cause, fix in _CAUSES:
        if any(w in upper for w in words):
            return cause, (fix + then).format(order_id=order.id, product_id=product_id)
    return code.replace("_", " ").lower(), ("Fix the cause named by " + code + ", " + then).format(
        order_id=order.id, product_id=product_id
    )


def blockers(order: Order, invoice: Invoice | None) -> list[Blocker]:
    """What the order waits for now; empty when it is closed or delivered."""
    status = order_status(order)
    oid = order.id
    if invoice is not None and invoice.succeeded_attempt is not None and not order.paid:
        return [
            Blocker(
                "CHARGED_BUT_NOT_UPDATED",
                "The payment succeeded but the order was never marked charged.",
                "Escalate to development: replay the payment outcome so OrderCharged is recorded; do not "
                "charge the patient again.",
                True,
            )
        ]
    match status:
        case "CANCELED" | "REFUNDED" | "REJECTED" | "COMPLETED":
            return []
        case "PENDING_PAYMENT":
            return _payment_blockers(invoice)
        case "AWAITING_REQUIREMENTS":
            if order.intake_status == "submitted":
                return [
                    Blocker(
                        "INTAKE_UNDER_REVIEW",
                        "The intake was submitted and awaits acceptance.",
                        f"Review the intake and record the decision (POST /orders/{oid}/intake).",
                        True,
                    )
                ]
            cause, fix = describe_cause(
                "INTAKE_NEEDS_CORRECTION" if order.intake_status == "needs_correction" else "INTAKE_MISSING",
                order,
                then="and the order moves on by itself.",
            )
            code = (
                "INTAKE_NEEDS_CORRECTION" if order.intake_status == "needs_correction" else "INTAKE_MISSING"
            )
            return [Blocker(code, f"Paid, but {cause}.", fix, True)]
        case "AWAITING_REQUISITION":
            return [
                Blocker(
                    "LAB_REQUISITION_MISSING",
                    "Paid; the lab requisition has not been recorded.",
                    "Issue the lab requisition and record it.",
                    True,
                )
            ]
        case "AWAITING_RESULTS":
            return [
                Blocker(
                    "LAB_RESULTS_MISSING",
                    "Waiting for the patient's lab results.",
                    "Wait for the lab, or chase the results.",
                    False,
                )
            ]
        case "AWAITING_SCRIPT":
            return _review_blockers(order)
        case "AWAITING_FULFILLMENT":
            return _fulfillment_blockers(order)
        case "PROCESSING":
            return [
                Blocker(
                    "COMPOUNDING",
                    "The pharmacy accepted the order and is compounding it.",
                    "Nothing to do; wait for the pharmacy's shipping update.",
                    False,
                )
            ]
        case "AWAITING_SHIPMENT":
            return [
                Blocker("AWAITING_CARRIER", "Labelled; waiting for the carrier.", "Nothing to do.", False)
            ]
        case "SHIPPED":
            return [
                Blocker(
                    "IN_TRANSIT",
                    f"Shipped ({order.carrier or 'carrier'} {order.tracking or ''}).".replace(" )", ")"),
                    "Nothing to do; share the tracking number.",
                    False,
                )
            ]
    return []


def _payment_blockers(invoice: Invoice | None) -> list[Blocker]:
    if invoice is None:
        return [
            Blocker(
                "INVOICE_MISSING", "The order's invoice cannot be found.", "Escalate to development.", True
            )
        ]
    last = invoice.last_attempt
    pay = f"POST /invoices/{invoice.id}/payments"
    if last is None:
        return [
            Blocker(
                "AWAITING_PAYMENT",
                "The invoice is open and no payment was attempted.",
                f"The patient pays the open invoice ({pay}).",
                True,
            )
        ]
    if last.outcome == "pending":
        return [
            Blocker(
                "PAYMENT_IN_PROGRESS",
                "A payment attempt has no recorded outcome yet.",
                "Wait a few minutes; an interrupted attempt is retried under the same idempotency key.",
                False,
            )
        ]
    return [
        Blocker(
            "PAYMENT_DECLINED",
            f"The last payment was declined by {last.gateway}: {last.message}",
            f"Ask the patient to pay the same open invoice again with a working saved card ({pay}); do not "
            "request another refill — the refill order and invoice already exist.",
            True,
        )
    ]


def _review_blockers(order: Order) -> list[Blocker]:
    oid = order.id
    match order.medical_review_status:
        case "blocked":
            found = []
            for reason in order.blocked_reasons or ("UNKNOWN",):
                cause, fix = describe_cause(reason, order, then=RETRY_REVIEW)
                found.append(Blocker(reason, f"Medical review submission was blocked: {cause}.", fix, True))
            return found
        case "failed":
            return [
                Blocker(
                    "MEDICAL_REVIEW_FAILED",
                    f"Beluga refused or could not be reached: {order.medical_review_error}",
                    "Fix the cause the error names, " + RETRY_REVIEW.format(order_id=oid),
                    True,
                )
            ]
        case "submitted":
            return [
                Blocker(
                    "AWAITING_PRESCRIPTION",
                    "Submitted to Beluga; waiting for the prescription (RX_WRITTEN).",
                    "Wait for Beluga; escalate to medical operations if it takes days.",
                    False,
                )
            ]
        case "concluded":
            return [
                Blocker(
                    "CONSULT_CONCLUDED_WITHOUT_RX",
                    f"The consult concluded ({order.consult_outcome}) "
                    "without a prescription for this product.",
                    "Ask medical operations to check the consult in Beluga.",
                    True,
                )
            ]
        case "canceled":
            return [
                Blocker(
                    "CONSULT_CANCELED",
                    "Beluga canceled the consult.",
                    "Resubmit once the cause is known, " + RETRY_REVIEW.format(order_id=oid),
                    True,
                )
            ]
    return [
        Blocker(
            "MEDICAL_REVIEW_NOT_SUBMITTED",
            "Paid and ready for the prescriber, but it was never submitted to Beluga.",
            "Submit it: " + RETRY_REVIEW.format(order_id=oid),
            True,
        )
    ]


def _fulfillment_blockers(order: Order) -> list[Blocker]:
    if order.pharmacy_error is not None:
        return [
            Blocker(
                "PHARMACY_SUBMISSION_FAILED",
                f"The pharmacy submission failed: {order.pharmacy_error}",
                "Check the pharmacy configuration and resubmit.",
                True,
            )
        ]
    if order.pharmacy_submitted:
        return [
            Blocker(
                "AWAITING_PHARMACY_ACCEPTANCE",
                "Sent to the pharmacy; waiting for it to accept.",
                "Wait for the pharmacy; call it if it takes more than a day.",
                False,
            )
        ]
    if order.held_by:
        found = []
        for check in order.held_by:
            cause, fix = describe_cause(check, order, then="and the fulfillment gate releases it by itself.")
            found.append(Blocker(check, f"The fulfillment gate holds the order: {cause}.", fix, True))
        return found
    if order.fulfillment_released:
        return [
            Blocker(
                "AWAITING_PHARMACY_SUBMISSION",
                f"Released to {order.fulfillment_partner}; the submission is not recorded yet.",
                "Wait a minute; if it stays, check the pharmacy worker.",
                False,
            )
        ]
    return [
        Blocker(
            "FULFILLMENT_NOT_RELEASED",
            "Cleared for the pharmacy but not yet released by the fulfillment gate.",
            "Wait for the gate to run; if it stays, check the gate worker.",
            False,
        )
    ]


def status_reasons(order: Order, invoice: Invoice | None) -> list[str]:
    """The facts behind the status, in the order `order_status` weighs them."""
    said: list[str] = []
    if order.canceled_reason is not None:
        return [f"The order was canceled: {order.canceled_reason}."]
    if order.refunded:
        return ["The order was refunded."]
    if order.pharmacy_rejected_reason is not None:
        return [f"The pharmacy rejected it: {order.pharmacy_rejected_reason}."]
    if order.intake_status == "rejected":
        return ["The intake was rejected."]
    if order.consult_outcome == "rejected":
        return ["The medical review rejected it."]
    if order.delivered:
        return ["The pharmacy reported it delivered."]
    if order.shipped:
        return [f"The pharmacy reported it shipped ({order.carrier}, tracking {order.tracking})."]
    if not order.paid:
        last = invoice.last_attempt if invoice else None
        said.append("It is not paid" + (f": the last attempt {last.outcome}" if last else "") + ".")
        return said
    said.append(
        f"It was paid on {order.charged_at:%Y-%m-%d %H:%M} UTC." if order.charged_at else "It is paid."
    )
    if order.accepted or order.processing:
        return [*said, "The pharmacy accepted it."]
    if order.requires_intake:
        said.append(f"It needs intake, which is {order.intake_status}.")
        if order.intake_status != "accepted":
            return said
    for step, done in (("requisition", order.lab_requisition), ("results", order.lab_results)):
        if needs_lab(order, step):
            said.append(f"It needs a lab {step}, which is {'recorded' if done else 'missing'}.")
            if not done:
                return said
    if order.is_medication:
        if not order.rx_med_ids:
            said.append(
                f"It is a medication with no prescription yet (medical review: "
                f"{order.medical_review_status.replace('_', ' ')})."
            )
            return said
        said.append("Its prescription was written (RX_WRITTEN).")
    said.append(
        "Fulfillment: "
        + (
            "submitted to the pharmacy"
            if order.pharmacy_submitted
            else "released"
            if order.fulfillment_released
            else "held"
            if order.held_by
            else "not released yet"
        )
        + "."
    )
    return said


@dataclass(frozen=True)
class Explanation:
    order_id: str
    order_number: str
    status: str
    summary: str
    because: list[str]
    waiting_for: list[Blocker]

    def as_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "order_number": self.order_number,
            "status": self.status,
            "summary": self.summary,
            "because": self.because,
            "waiting_for": [b.as_dict() for b in self.waiting_for],
        }


def explain(order: Order, invoice: Invoice | None) -> Explanation:
    status = order_status(order)
    return Explanation(
        order.id,
        order.number,
        status,
        explain_status(status),
        status_reasons(order, invoice),
        blockers(order, invoice),
    )
