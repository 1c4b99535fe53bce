"""Words and links for people: the one place typed support values become sentences.

`domain/` and `service/` return codes and typed values (kinds, statuses, escalation details); the API
and the console (`api/console/…`) both import this module to say them in plain words, so a page and
a JSON answer never word the same fact differently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from api.explain_words import CAUSE_WORDS
from domain.escalation_report import EscalationReport
from domain.escalations import Details
from domain.explain import cause_of

# --- escalations ---------------------------------------------------------------------------------

ESCALATION_KIND_WORDS: Mapping[str, str] = {
    "CHARGED_BUT_NOT_UPDATED": "Charged, but the order did not update",
    "DUPLICATE_REFILL_AFTER_FAILED_PAYMENT": "Another refill created while a refill invoice was open",
    "REFILL_MISSING_ORIGINAL_LINK": "Refill missing its original order link",
    "MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT": "Beluga submission failed after payment",
    "FULFILLMENT_BEFORE_RX": "Moving to fulfillment before prescription confirmation",
    "PRICE_OR_ELIGIBILITY_SUSPECT": "Refill price or eligibility looks wrong",
    "CONSULT_CANCELED_AFTER_PAYMENT": "Consult cancelled after payment",
    "RX_FOR_ANOTHER_MED_ID": "Prescription names another medId",
    "PHARMACY_REJECTED_PAID_ORDER": "Pharmacy rejected a paid order",
    "CHARGE_PENDING": "Charge left pending",
    "PHARMACY_CANCEL_FAILED": "Pharmacy did not cancel a closed order",
    "REJECTED_PAID_CLINIC_LINE": "Pharmacy rejected a paid clinic line",
    "SUBSCRIPTION_PAST_DUE": "Subscription past due: every retry declined",
}

_SUSPECT_WORDS: Mapping[str, str] = {
    "REFILL_NOT_ONE_UNIT": "a refill is one line of quantity 1",
    "LINE_NOT_REFILL_PRODUCT": "its line is not the refill product",
    "INVOICE_AMOUNT_MISMATCH": "the invoice amount differs from the order's total",
    "PRODUCT_NOT_ON_ORIGINAL": "the product is not on the original order",
    "ORIGINAL_NOT_PAID_AT_REFILL": "the original order was not paid when the refill was created",
    "PRICE_NOT_CATALOG_PRICE": "it was charged {actual} while the product's price then was {expected}",
    "PRODUCT_INACTIVE_AT_REFILL": "the product was inactive when the refill was created",
}

ELIGIBILITY_WORDS: Mapping[str, str] = {
    "ORDER_NOT_OWNED": "the order is not the patient's",
    "NOT_PAID": "the original order is not paid",
    "STATUS_NOT_ELIGIBLE": "the original order's status is not refill-eligible",
    "PRODUCT_NOT_ON_ORDER": "the product is not on the original order",
    "PRODUCT_INACTIVE": "no product on the order is active",
    "NO_SAVED_PAYMENT_METHOD": "no saved card for the active gateway",
    "PAYMENT_METHOD_NOT_USABLE": "the saved card cannot be used with the active gateway",
    "ORIGINAL_ORDER_MISSING": "the original order cannot be found",
    "PATIENT_UNKNOWN": "the patient cannot be found",
}


def money(cents: int | None) -> str:
    return "an unknown amount" if cents is None else f"${cents // 100:,}.{cents % 100:02d}"


def escalation_kind_words(kind: str) -> str:
    return ESCALATION_KIND_WORDS.get(kind, kind.replace("_", " ").capitalize())


def _blocked_words(codes: Sequence[str]) -> str:
    return ", ".join(CAUSE_WORDS["staff"][cause_of(c)].format(code=c) for c in codes) or "no reason given"


def escalation_why(kind: str, d: Details) -> str:
    """One sentence: why this escalation was raised, from its kind and typed details."""
    match kind:
        case "CHARGED_BUT_NOT_UPDATED":
            return (
                "The gateway took the payment but the order was never marked charged, "
                "so its status did not move on."
            )
        case "DUPLICATE_REFILL_AFTER_FAILED_PAYMENT":
            return (
                "Another refill of the same product was created while an earlier refill's invoice was "
                "still open after a failed payment; that invoice should have been paid instead."
            )
        case "REFILL_MISSING_ORIGINAL_LINK":
            return "This refill order does not link back to an original order that records it."
        case "MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT":
            if "SUBMISSION_FAILED" in d.reasons:
                return f"The order is paid but its Beluga submission failed: {d.message or 'no error given'}."
            return f"The order is paid but its Beluga submission was blocked: {_blocked_words(d.reasons)}."
        case "FULFILLMENT_BEFORE_RX":
            missing = {
                "NO_PRESCRIPTION": "no prescription (RX_WRITTEN) was received",
                "INTAKE_NOT_ACCEPTED": "the intake is not accepted",
            }
            said = " and ".join(missing.get(r, r) for r in d.reasons)
            return f"The order was sent towards the pharmacy although {said}."
        case "PRICE_OR_ELIGIBILITY_SUSPECT":
            values = {"actual": money(d.actual_cents), "expected": money(d.expected_cents)}
            said = "; ".join(_SUSPECT_WORDS.get(r, r).format(**values) for r in d.reasons)
            return f"The refill looks wrong: {said}."
        case "CONSULT_CANCELED_AFTER_PAYMENT":
            return f"The order is paid but Beluga cancelled the consult ({d.message or 'no reason given'})."
        case "RX_FOR_ANOTHER_MED_ID":
            return (
                f"The prescription names medId {', '.join(d.med_ids) or 'none'} but the product needs "
                f"{', '.join(d.expected_med_ids) or 'a mapped medId'}."
            )
        case "PHARMACY_REJECTED_PAID_ORDER":
            return f"The order is paid but the pharmacy rejected it: {d.message or 'no reason given'}."
        case "CHARGE_PENDING":
            since = f" since {d.since:%Y-%m-%d %H:%M} UTC" if d.since else ""
            return f"A charge has had no recorded outcome{since}; reconcile it with the gateway."
        case "REJECTED_PAID_CLINIC_LINE":
            return (
                f"The clinic paid {money(d.actual_cents)} for this line but the pharmacy rejected it: "
                f"{d.message or 'no reason given'}; fix and resubmit it, or refund the line."
            )
        case "SUBSCRIPTION_PAST_DUE":
            return (
                f"The subscription is past due: its cycle's charge was declined {d.attempts or 0} times, "
                f"last with {_or_none(d.message)}; ask the patient to pay the open invoice with another card."
            )
        case "PHARMACY_CANCEL_FAILED":
            closed = "refunded" if "REFUNDED" in d.reasons else "canceled"
            return (
                f"The order was {closed} after it reached the pharmacy, and the pharmacy did not cancel "
                f"it ({d.message or 'no reason given'}); make sure it does not ship."
            )
    return f"{escalation_kind_words(kind)} ({', '.join(d.reasons) or 'no details'})."


def _or_none(value: str | None) -> str:
    return value if value else "none"


def escalation_report_text(r: EscalationReport) -> str:
    """Exactly the seed's "Include these details when escalating" block (CONSOLE.md), one line each."""
    if not r.review_required:
        review = "not required / none"
    else:
        error = r.review_error or (_blocked_words(r.review_blocked) if r.review_blocked else None)
        review = f"{r.review_status} / {_or_none(error)}"
    button = (
        "yes"
        if r.button_visible
        else f"no ({'; '.join(ELIGIBILITY_WORDS.get(c, c) for c in r.button_reasons)})"
    )
    patient = " ".join(x for x in (r.patient_name, r.patient_email) if x) or "unknown"
    return "\n".join(
        [
            f"Patient: {patient}",
            f"Original order: {_or_none(r.original_order_number)}",
            f"Refill order: {_or_none(r.refill_order_number)}",
            f"Refill product: {_or_none(r.refill_product_name)}",
            f"Refill invoice status: {_or_none(r.invoice_status)}",
            f"Payment status / gateway error: {r.payment_status} / {_or_none(r.gateway_error)}",
            f"Current refill order status: {r.order_status}",
            f"Beluga submit status / error: {review}",
            f"Patient sees the refill button: {button}",
        ]
    )


# --- stuck orders: each fix as the HTTP call that performs it ------------------------------------


@dataclass(frozen=True)
class FixCall:
    """How a fix is performed: the call the API accepts, and who may make it."""

    operation: str
    label: str
    method: str
    path: str
    body: dict[str, str] | None  # `reason` is the operator's own words, required where present
    roles: tuple[str, ...]


_FIX_CALLS: Mapping[str, tuple[str, str, dict[str, str] | None, tuple[str, ...]]] = {
    "RETRY_MEDICAL_REVIEW": (
        "Retry the medical review",
        "/orders/{order_id}/medical-review/retry",
        None,
        ("ops", "cs"),
    ),
    "START_NEW_CONSULT": (
        "Start a new consult",
        "/orders/{order_id}/medical-review/new-consult",
        {"reason": ""},
        ("ops", "cs", "staff"),
    ),
    "RESUBMIT_TO_PHARMACY": (
        "Resubmit to the pharmacy",
        "/orders/{order_id}/fulfillment/resubmit",
        {"reason": ""},
        ("ops", "staff"),
    ),
    "REFUND": ("Refund the order", "/orders/{order_id}/refund", {"reason": ""}, ("staff",)),
    "CANCEL": ("Cancel the unpaid order", "/orders/{order_id}/cancel", {"reason": ""}, ("staff",)),
    "RECORD_INTAKE": (
        "Record the intake as accepted",
        "/orders/{order_id}/intake",
        {"status": "accepted"},
        ("staff", "service"),
    ),
    "RECORD_LAB_REQUISITION": (
        "Record the lab requisition",
        "/orders/{order_id}/lab/requisition",
        {},
        ("staff", "service"),
    ),
}


def fix_call(operation: str, order_id: str) -> FixCall:
    label, path, body, roles = _FIX_CALLS[operation]
    return FixCall(operation, label, "POST", path.format(order_id=order_id), body, roles)
