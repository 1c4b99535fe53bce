"""Words for `domain.explain`: what an order waits for, said to the person reading it.

The domain hands over typed values (a status, blockers with a situation, a cause and an action);
this module is the one place that turns them into sentences and routes. Two readers:
- `patient`: spoken to ("your intake", "your card"), no routes, no internal names;
- `staff` (CS, ops, staff, clinic users): about the patient, with the API call that clears it.
Every table is keyed by a domain enumeration, and `tests/unit/test_explain_words.py` walks the
enumerations, so a new status, situation, cause or action without words fails the suite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from typing import Any, Literal

from domain import refills
from domain.explain import Action, Blocker, Cause, Explanation, Reason, Situation
from domain.status import OrderStatus

Audience = Literal["patient", "staff"]

# The status headline when nothing qualifies it (see `summary` for the states that do).
STATUS_WORDS: Mapping[Audience, Mapping[OrderStatus, str]] = {
    "patient": {
        "CANCELED": "Your order was canceled; nothing further will happen.",
        "REFUNDED": "Your order was refunded; nothing further will happen.",
        "REJECTED": "Your order could not be completed and will not ship.",
        "PENDING_PAYMENT": "Waiting for your payment: the invoice is open.",
        "AWAITING_REQUIREMENTS": "Paid; we need your intake before your clinician can review it.",
        "AWAITING_REQUISITION": "Paid; your lab order is being prepared.",
        "AWAITING_RESULTS": "Paid; waiting for your lab results.",
        "AWAITING_SCRIPT": "Paid; your clinician is reviewing your prescription.",
        "AWAITING_FULFILLMENT": "Prescribed; your order is being sent to the pharmacy.",
        "PROCESSING": "The pharmacy accepted your order and is preparing it.",
        "AWAITING_SHIPMENT": "Prepared and labelled; waiting for the carrier.",
        "SHIPPED": "Shipped; on its way to you.",
        "COMPLETED": "Delivered.",
    },
    "staff": {
        "CANCELED": "The order was canceled; nothing further will happen.",
        "REFUNDED": "The order was refunded; nothing further will happen.",
        "REJECTED": "The order was rejected (intake, medical review or pharmacy); nothing will ship.",
        "PENDING_PAYMENT": "Waiting for payment: the invoice is open.",
        "AWAITING_REQUIREMENTS": "Paid; waiting for the patient's intake to be completed and accepted.",
        "AWAITING_REQUISITION": "Paid; waiting for the lab requisition.",
        "AWAITING_RESULTS": "Paid; waiting for lab results.",
        "AWAITING_SCRIPT": "Paid; waiting for the prescription (medical review by Beluga).",
        "AWAITING_FULFILLMENT": "Cleared for the pharmacy; waiting for the pharmacy to accept the order.",
        "PROCESSING": "The pharmacy accepted the order and is compounding it.",
        "AWAITING_SHIPMENT": "Compounded and labelled; waiting for the carrier.",
        "SHIPPED": "Shipped; waiting for delivery.",
        "COMPLETED": "Delivered.",
    },
}

# (reason, fix) per situation and reader; `{…}` fields come from the blocker and the order.
SITUATION_WORDS: Mapping[Audience, Mapping[Situation, tuple[str, str]]] = {
    "patient": {
        "CHARGED_BUT_NOT_UPDATED": (
            "Your payment went through; we are updating your order.",
            "Nothing to do; please don't pay again. Support has been told.",
        ),
        "INVOICE_MISSING": ("We cannot find this order's invoice.", "Please contact support."),
        "AWAITING_PAYMENT": ("Your invoice is open.", "Pay it with a saved card."),
        "PAYMENT_IN_PROGRESS": (
            "Your payment is being processed.",
            "Nothing to do; please don't pay again while it is in progress.",
        ),
        "PAYMENT_DECLINED": (
            "Your card was declined: {detail}",
            "Pay the same open invoice with another card. There is no need to request another refill.",
        ),
        "INTAKE_UNDER_REVIEW": ("Your intake is being reviewed.", "Nothing to do for now."),
        "INTAKE_MISSING": ("We need your intake.", "Complete your intake form."),
        "INTAKE_NEEDS_CORRECTION": ("Your intake needs a correction.", "Update your intake form."),
        "LAB_REQUISITION_MISSING": ("Your lab order is being prepared.", "Nothing to do for now."),
        "LAB_RESULTS_MISSING": ("We are waiting for your lab results.", "Visit the lab if you have not yet."),
        "MEDICAL_REVIEW_BLOCKED": (
            "Your clinician review is delayed: {cause}.",
            "Nothing to do; our team is fixing it.",
        ),
        "MEDICAL_REVIEW_FAILED": (
            "Your clinician review could not be started yet.",
            "Nothing to do; our team is retrying.",
        ),
        "AWAITING_PRESCRIPTION": ("Your clinician is reviewing your request.", "Nothing to do for now."),
        "CONSULT_CONCLUDED_WITHOUT_RX": (
            "Your consultation ended without a prescription for this product.",
            "Our team will contact you.",
        ),
        "CONSULT_CANCELED": (
            "Your consultation was canceled.",
            "Our team will open a new consultation or refund you.",
        ),
        "MEDICAL_REVIEW_NOT_SUBMITTED": (
            "Your request has not reached your clinician yet.",
            "Nothing to do; our team is on it.",
        ),
        "PHARMACY_REJECTED": (
            "The pharmacy could not fill your order.",
            "Our team will resend it or refund you.",
        ),
        "PHARMACY_SUBMISSION_FAILED": (
            "Your order could not be sent to the pharmacy yet.",
            "Nothing to do; our team is resending it.",
        ),
        "POLICY_STEP_FAILED": (
            "A step of your order is being retried.",
            "Nothing to do; it is retried by itself.",
        ),
        "AWAITING_PHARMACY_ACCEPTANCE": ("Sent to the pharmacy.", "Nothing to do for now."),
        "FULFILLMENT_HELD": (
            "Your order is on hold before the pharmacy: {cause}.",
            "Nothing to do; our team is fixing it.",
        ),
        "AWAITING_PHARMACY_SUBMISSION": ("Being sent to the pharmacy.", "Nothing to do for now."),
        "FULFILLMENT_NOT_RELEASED": ("Being prepared for the pharmacy.", "Nothing to do for now."),
        "COMPOUNDING": ("The pharmacy is preparing your order.", "Nothing to do for now."),
        "AWAITING_CARRIER": ("Waiting for the carrier.", "Nothing to do for now."),
        "IN_TRANSIT": ("Shipped ({carrier} {tracking}).", "Track it with the carrier."),
    },
    "staff": {
        "CHARGED_BUT_NOT_UPDATED": (
            "The payment succeeded but the order was never marked charged.",
            "Escalate to development: replay the payment outcome so OrderCharged is recorded; do not "
            "charge the patient again.",
        ),
        "INVOICE_MISSING": ("The order's invoice cannot be found.", "Escalate to development."),
        "AWAITING_PAYMENT": (
            "The invoice is open and no payment was attempted.",
            "The patient pays the open invoice (POST /invoices/{invoice_id}/payments).",
        ),
        "PAYMENT_IN_PROGRESS": (
            "A payment attempt has no recorded outcome yet.",
            "Wait a few minutes; an interrupted attempt is retried under the same idempotency key.",
        ),
        "PAYMENT_DECLINED": (
            "The last payment was declined by {gateway}: {detail}",
            "Ask the patient to pay the same open invoice again with a working saved card "
            "(POST /invoices/{invoice_id}/payments); do not request another refill — the refill order "
            "and invoice already exist.",
        ),
        "INTAKE_UNDER_REVIEW": (
            "The intake was submitted and awaits acceptance.",
            "Review the intake and record the decision (POST /orders/{order_id}/intake).",
        ),
        "INTAKE_MISSING": (
            "Paid, but the required intake is missing or not accepted.",
            "Get the patient's intake completed and recorded as accepted (POST /orders/{order_id}/intake), "
            "and the order moves on by itself.",
        ),
        "INTAKE_NEEDS_CORRECTION": (
            "Paid, but the patient's intake needs correction.",
            "Ask the patient to correct the intake and record it as accepted "
            "(POST /orders/{order_id}/intake), and the order moves on by itself.",
        ),
        "LAB_REQUISITION_MISSING": (
            "Paid; the lab requisition has not been recorded.",
            "Issue the lab requisition and record it (POST /orders/{order_id}/lab/requisition).",
        ),
        "LAB_RESULTS_MISSING": (
            "Waiting for the patient's lab results.",
            "Wait for the lab, or chase the results.",
        ),
        "MEDICAL_REVIEW_BLOCKED": ("Medical review submission was blocked: {cause}.", "{action}"),
        "MEDICAL_REVIEW_FAILED": (
            "Beluga refused or could not be reached: {detail}",
            "Fix the cause the error names, {action}",
        ),
        "AWAITING_PRESCRIPTION": (
            "Submitted to Beluga; waiting for the prescription (RX_WRITTEN).",
            "Wait for Beluga; escalate to medical operations if it takes days.",
        ),
        "CONSULT_CONCLUDED_WITHOUT_RX": (
            "The consult concluded ({detail}) without a prescription for this product.",
            "Ask medical operations to check the consult in Beluga.",
        ),
        "CONSULT_CANCELED": ("Beluga canceled the consult{detail_suffix}.", "{action}"),
        "MEDICAL_REVIEW_NOT_SUBMITTED": (
            "Paid and ready for the prescriber, but it was never submitted to Beluga.",
            "Submit it: {action}",
        ),
        "PHARMACY_REJECTED": ("The pharmacy{partner_suffix} rejected the order: {detail}", "{action}"),
        "PHARMACY_SUBMISSION_FAILED": ("The pharmacy submission failed: {detail}", "{action}"),
        "POLICY_STEP_FAILED": ("A worker step failed for this order: {detail}.", "{action}"),
        "AWAITING_PHARMACY_ACCEPTANCE": (
            "Sent to the pharmacy; waiting for it to accept.",
            "Wait for the pharmacy; call it if it takes more than a day.",
        ),
        "FULFILLMENT_HELD": ("The fulfillment gate holds the order: {cause}.", "{action}"),
        "AWAITING_PHARMACY_SUBMISSION": (
            "Released to {partner}; the submission is not recorded yet.",
            "Wait a minute; if it stays, check the pharmacy worker.",
        ),
        "FULFILLMENT_NOT_RELEASED": (
            "Everything the pharmacy needs is recorded, but the fulfillment gate has not released it yet.",
            "Wait for the gate to run; if it stays, check the gate worker.",
        ),
        "COMPOUNDING": (
            "The pharmacy accepted the order and is compounding it.",
            "Nothing to do; wait for the pharmacy's shipping update.",
        ),
        "AWAITING_CARRIER": ("Labelled; waiting for the carrier.", "Nothing to do."),
        "IN_TRANSIT": ("Shipped ({carrier} {tracking}).", "Nothing to do; share the tracking number."),
    },
}

CAUSE_WORDS: Mapping[Audience, Mapping[Cause, str]] = {
    "patient": {
        "INTAKE_NEEDS_CORRECTION": "your intake needs a correction",
        "INTAKE_REJECTED": "your intake was not accepted",
        "INTAKE_INCOMPLETE": "your intake is not complete",
        "VISIT_TYPE_MISSING": "the product's setup is incomplete",
        "PRESCRIPTION_MISSING": "your prescription is not written yet",
        "PRESCRIPTION_FOR_OTHER_DRUG": "your prescription is being checked",
        "MED_ID_MISSING": "the product's setup is incomplete",
        "PHARMACY_NOT_CONFIGURED": "the pharmacy setup for this product is incomplete",
        "LAB_METHOD_MISSING": "the product's lab setup is incomplete",
        "LAB_INCOMPLETE": "your lab work is not complete",
        "NOT_PAID": "your invoice is not paid",
        "ORDER_CLOSED": "your order is closed",
        "REVIEW_INCOMPLETE": "your clinician review is not complete",
        "UNRECOGNISED": "a check needs our attention",
    },
    "staff": {
        "INTAKE_NEEDS_CORRECTION": "the patient's intake needs correction",
        "INTAKE_REJECTED": "the intake was rejected",
        "INTAKE_INCOMPLETE": "the required intake is missing or not accepted",
        "VISIT_TYPE_MISSING": "the product has no Beluga visit type",
        "PRESCRIPTION_MISSING": "no prescription (RX_WRITTEN) confirms the product yet",
        "PRESCRIPTION_FOR_OTHER_DRUG": "the prescription names another medId than the product's",
        "MED_ID_MISSING": "the product has no Beluga drug mapping (medId)",
        "PHARMACY_NOT_CONFIGURED": "the product has no pharmacy configuration",
        "LAB_METHOD_MISSING": "the required lab method is missing",
        "LAB_INCOMPLETE": "the required lab steps are not recorded",
        "NOT_PAID": "the invoice is not paid",
        "ORDER_CLOSED": "the order is canceled or refunded",
        "REVIEW_INCOMPLETE": "the medical review is not complete",
        "UNRECOGNISED": "a check failed ({code})",
    },
}

_PRODUCT_FIELD: Mapping[Cause, str] = {
    "VISIT_TYPE_MISSING": "medical_review.visit_type",
    "MED_ID_MISSING": "medical_review.med_id",
    "PHARMACY_NOT_CONFIGURED": "pharmacy partner and product code",
    "LAB_METHOD_MISSING": "lab method",
}

# What each action asks of staff; `{then}` is how the order moves on afterwards.
ACTION_WORDS: Mapping[Action, str] = {
    "WAIT": "Nothing to do but wait{then}.",
    "PAY_INVOICE": "Have the open invoice paid (POST /invoices/{invoice_id}/payments){then}.",
    "RECORD_INTAKE": (
        "Get the intake completed and recorded as accepted (POST /orders/{order_id}/intake){then}."
    ),
    "ISSUE_LAB_REQUISITION": "Record the lab steps (POST /orders/{order_id}/lab/requisition){then}.",
    "CHASE_LAB_RESULTS": "Chase the lab results{then}.",
    "FIX_PRODUCT_AND_RETRY_REVIEW": (
        "Set the product's {product_field} (PATCH /products/{product_id}), then retry the submission "
        "(POST /orders/{order_id}/medical-review/retry)."
    ),
    "FIX_PRODUCT": "Set the product's {product_field} (PATCH /products/{product_id}){then}.",
    "RETRY_MEDICAL_REVIEW": "retry the submission (POST /orders/{order_id}/medical-review/retry).",
    "START_NEW_CONSULT": (
        "Start a new consult with a reason (POST /orders/{order_id}/medical-review/new-consult), "
        "or refund the order (POST /orders/{order_id}/refund)."
    ),
    "CHECK_CONSULT": "Ask medical operations to check the consult in Beluga{then}.",
    "CANCEL_OR_REFUND": (
        "A clinician must review it; the order cannot go on as is — cancel or refund it "
        "(POST /orders/{order_id}/refund), or record a new accepted intake."
    ),
    "RESUBMIT_TO_PHARMACY": (
        "Fix the cause with the pharmacy, then resubmit (POST /orders/{order_id}/fulfillment/resubmit), "
        "or refund the order (POST /orders/{order_id}/refund)."
    ),
    "CHECK_WORKER": "Wait a minute; if it stays, check the workers{then}.",
    "REDRIVE_STEP": (
        "It is retried with backoff by itself; once the cause is fixed, retry it now "
        "(ledger replay redrive {order_id})."
    ),
    "ESCALATE_TO_DEVELOPMENT": "Escalate to development{then}.",
    "NONE": "Nothing to do: the order is closed{then}.",
}

_THEN: Mapping[Situation, str] = {
    "FULFILLMENT_HELD": ", and the fulfillment gate releases it by itself",
    "MEDICAL_REVIEW_BLOCKED": ", then retry the submission (POST /orders/{order_id}/medical-review/retry)",
}


def _values(b: Blocker, order_id: str, audience: Audience) -> dict[str, Any]:
    values: dict[str, Any] = {k: ("" if v is None else v) for k, v in asdict(b).items()}
    values["order_id"] = order_id
    values["detail"] = b.detail or "no reason given"
    values["detail_suffix"] = f": {b.detail}" if b.detail else ""
    values["partner"] = b.partner or "the pharmacy"
    values["partner_suffix"] = f" ({b.partner})" if b.partner else ""
    values["carrier"] = b.carrier or "carrier"
    values["cause"] = CAUSE_WORDS[audience][b.cause or "UNRECOGNISED"].format(code=b.code)
    values["product_field"] = _PRODUCT_FIELD.get(b.cause or "UNRECOGNISED", "configuration")
    then = _THEN.get(b.situation, "")
    values["then"] = then.format(order_id=order_id)
    values["action"] = ACTION_WORDS[b.action].format(**values)
    return values


def blocker_words(b: Blocker, order_id: str, audience: Audience) -> tuple[str, str]:
    """(reason, fix) for one blocker."""
    values = _values(b, order_id, audience)
    reason, fix = SITUATION_WORDS[audience][b.situation]
    return reason.format(**values).replace(" )", ")"), fix.format(**values)


def blocker_out(b: Blocker, order_id: str, audience: Audience) -> dict[str, Any]:
    reason, fix = blocker_words(b, order_id, audience)
    out: dict[str, Any] = {"code": b.code, "reason": reason, "fix": fix, "needs_action": b.needs_action}
    if audience == "staff":
        out["action"] = b.action
    return out


# Why a refill is refused or its button not shown, keyed by the domain's eligibility codes.
ELIGIBILITY_WORDS: Mapping[str, str] = {
    refills.ORDER_NOT_OWNED: "The order does not belong to this patient.",
    refills.NOT_PAID: "The original order is not paid.",
    refills.STATUS_NOT_ELIGIBLE: "The original order's status does not allow refills.",
    refills.PRODUCT_NOT_ON_ORDER: "The selected product is not on the original order.",
    refills.PRODUCT_INACTIVE: "The product is no longer active.",
    refills.NO_SAVED_PAYMENT_METHOD: "The patient has no saved payment method for the active gateway.",
    refills.PAYMENT_METHOD_NOT_USABLE: (
        "The chosen payment method is not the patient's own or not of the active gateway."
    ),
    refills.REFILL_IN_PROGRESS: "A refill of this product is already on its way.",
}


def eligibility_words(code: str) -> str:
    return ELIGIBILITY_WORDS.get(code, code.replace("_", " ").capitalize() + ".")


_PLAIN_WAITS: frozenset[Situation] = frozenset({"AWAITING_PRESCRIPTION", "FULFILLMENT_NOT_RELEASED"})


def summary(status: OrderStatus, waiting: Sequence[Blocker], audience: Audience) -> str:
    """The status headline, qualified by what the order actually waits for.

    "Cleared for the pharmacy" is only true when nothing holds the order, and "waiting for the
    prescription" only while a consult is open: the first blocker decides those states' words.
    """
    first = waiting[0] if waiting else None
    qualified = status in ("AWAITING_SCRIPT", "AWAITING_FULFILLMENT", "REJECTED")
    if first is not None and qualified and first.situation not in _PLAIN_WAITS:
        return blocker_words(first, "", audience)[0]
    return STATUS_WORDS[audience][status]


def reason_words(r: Reason, audience: Audience) -> str:
    you = audience == "patient"
    match r.code:
        case "CANCELED":
            return f"The order was canceled: {r.detail}."
        case "REFUNDED":
            return "The order was refunded."
        case "PHARMACY_REJECTED":
            return f"The pharmacy rejected it: {r.detail}."
        case "INTAKE_REJECTED":
            return "Your intake was not accepted." if you else "The intake was rejected."
        case "CONSULT_REJECTED":
            return "The medical review did not approve it."
        case "DELIVERED":
            return "The pharmacy reported it delivered."
        case "SHIPPED":
            return f"The pharmacy reported it shipped ({r.carrier}, tracking {r.tracking})."
        case "NOT_PAID":
            return "It is not paid" + (f": the last attempt {r.detail}" if r.detail else "") + "."
        case "PAID":
            return f"It was paid on {r.at:%Y-%m-%d %H:%M} UTC." if r.at else "It is paid."
        case "PHARMACY_ACCEPTED":
            return "The pharmacy accepted it."
        case "INTAKE":
            state = (r.detail or "missing").replace("_", " ")
            return f"It needs {'your' if you else 'an'} intake, which is {state}."
        case "LAB":
            what = "a lab requisition" if r.step == "requisition" else "lab results"
            verb = "are" if r.step == "results" else "is"
            return f"It needs {what}, which {verb} {'recorded' if r.done else 'missing'}."
        case "NO_PRESCRIPTION":
            review = (r.detail or "not_submitted").replace("_", " ")
            return f"It is a medication with no prescription yet (medical review: {review})."
        case "PRESCRIPTION_WRITTEN":
            return (
                "Its prescription was written (RX_WRITTEN)." if not you else "Its prescription was written."
            )
        case "FULFILLMENT":
            return f"Fulfillment: {(r.detail or '').replace('_', ' ')}."


def explanation_out(e: Explanation, audience: Audience) -> dict[str, Any]:
    return {
        "order_id": e.order_id,
        "order_number": e.order_number,
        "status": e.status,
        "summary": summary(e.status, e.waiting_for, audience),
        "because": [reason_words(r, audience) for r in e.because],
        "waiting_for": [blocker_out(b, e.order_id, audience) for b in e.waiting_for],
    }


_BLOCKER_FIELDS = frozenset(f.name for f in fields(Blocker))


def blocker_from(data: Mapping[str, Any]) -> Blocker:
    """A blocker stored as JSON by a projection (`dataclasses.asdict`), typed again."""
    return Blocker(**{k: v for k, v in data.items() if k in _BLOCKER_FIELDS})
