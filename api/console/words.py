"""The console's words: each event of an order's timeline in a sentence, actions and eligibility.

Blocker reasons and fixes come from `api.explain_words` (one wording for the API and the console);
the console drops the API routes those fixes name, because here the fix is a button.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_ROUTE = re.compile(r"\s*\((?:GET|POST|PATCH|PUT|DELETE) /[^)]*\)")


def without_routes(text: str) -> str:
    """ "Retry the submission (POST /orders/…/retry)." → "Retry the submission."."""
    return _ROUTE.sub("", text)


def _money(cents: Any) -> str:
    return f"${int(cents) / 100:,.2f}" if isinstance(cents, int) else "?"


def _lines(d: Mapping[str, Any]) -> str:
    return ", ".join(f"{ln.get('quantity', 1)} x {ln.get('name', ln.get('product_id'))}" for ln in d["lines"])


def _checks(names: Any) -> str:
    return ", ".join(str(n).replace("_", " ").lower() for n in names or []) or "none"


EVENT_WORDS: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    "OrderPlaced": lambda d: (
        f"Order {d['number']} placed: {_lines(d)}"
        + (f" (refill of {d['refill_of_order_number']})" if d.get("refill_of_order_number") else "")
    ),
    "OrderCharged": lambda d: "Order marked charged (its invoice was paid)",
    "OrderCanceled": lambda d: f"Order canceled: {d['reason']}",
    "OrderRefunded": lambda d: f"Order refunded ({_money(d['amount_cents'])}): {d['reason']}",
    "RefillOpened": lambda d: f"Refill {d['refill_order_number']} opened from this order",
    "IntakeRecorded": lambda d: (
        f"Intake recorded as {d['status'].replace('_', ' ')}" + (f": {d['note']}" if d.get("note") else "")
    ),
    "LabRequisitionRecorded": lambda d: "Lab requisition recorded",
    "LabResultsRecorded": lambda d: "Lab results recorded",
    "MedicalReviewSubmitted": lambda d: (
        f"Sent to Beluga for medical review (masterId {d['master_id']}, attempt {d['attempt']})"
    ),
    "MedicalReviewBlocked": lambda d: "Medical review not sent: " + _checks(d["reasons"]),
    "MedicalReviewFailed": lambda d: f"Beluga refused or was unreachable: {d['error']}",
    "NewConsultStarted": lambda d: f"New consult {d['consult_number']} started: {d['reason']}",
    "ConsultCanceled": lambda d: (
        "Beluga canceled the consult" + (f": {d['reason']}" if d.get("reason") else "")
    ),
    "ConsultConcluded": lambda d: f"Beluga concluded the consult ({d['outcome']})",
    "RxWritten": lambda d: "Prescription written (RX_WRITTEN) for medId " + ", ".join(d["med_ids"]),
    "FulfillmentHeld": lambda d: "Fulfillment gate held the order: " + _checks(d["failed_checks"]),
    "FulfillmentReleased": lambda d: f"Fulfillment gate released the order to {d['partner']}",
    "PharmacySubmissionWithheld": lambda d: "Pharmacy submission withheld: " + _checks(d["failed_checks"]),
    "PharmacyOrderSubmitted": lambda d: f"Sent to the pharmacy {d['partner']} (its id {d['external_id']})",
    "PharmacySubmissionFailed": lambda d: f"Sending to the pharmacy {d['partner']} failed: {d['error']}",
    "PharmacyOrderAccepted": lambda d: f"The pharmacy {d['partner']} accepted the order",
    "PharmacyOrderProcessing": lambda d: f"The pharmacy {d['partner']} is compounding the order",
    "PharmacyOrderRejected": lambda d: f"The pharmacy {d['partner']} rejected the order: {d['reason']}",
    "FulfillmentResubmitted": lambda d: (
        f"Resubmitted to the pharmacy {d['partner']} (attempt {d['attempt']}) by {d['requested_by']}: "
        f"{d['reason']}"
    ),
    "VendorFactStale": lambda d: (
        f"Late news from {d['vendor']} ({d['event_type']} of {d['occurred_at']}) recorded, not applied: "
        f"{d['latest_at']} is later"
    ),
    "PharmacyCancellationRequested": lambda d: f"Asked the pharmacy {d['partner']} to cancel",
    "PharmacyCancellationFailed": lambda d: f"The pharmacy {d['partner']} could not cancel: {d['error']}",
    "OrderShipped": lambda d: f"Shipped by {d['carrier']}, tracking {d['tracking']}",
    "OrderDelivered": lambda d: "Delivered",
    "InvoiceIssued": lambda d: f"Invoice issued for {_money(d['amount_cents'])}",
    "PaymentAttempted": lambda d: (
        f"Payment attempt {d['attempt']} of {_money(d['amount_cents'])} with {d['gateway']}"
    ),
    "PaymentSucceeded": lambda d: f"Payment attempt {d['attempt']} succeeded",
    "PaymentFailed": lambda d: (
        f"Payment attempt {d['attempt']} declined by {d['gateway']}: "
        f"{d.get('message') or d.get('decline_code') or 'no message'}"
    ),
    "InvoiceVoided": lambda d: f"Invoice voided: {d['reason']}",
    "InvoiceRefunded": lambda d: f"Invoice refunded ({_money(d['amount_cents'])})",
    "RefillRequested": lambda d: (
        f"The patient requested refill {d['refill_order_number']} of order {d['original_order_number']}"
    ),
    "RefillChargeSucceeded": lambda d: "The refill's charge succeeded",
    "RefillChargeFailed": lambda d: (
        f"The refill's charge was declined: {d.get('message') or d.get('decline_code')}"
    ),
}


def event_words(event_type: str, data: Mapping[str, Any]) -> str:
    """A sentence for the event; an event without words yet reads as its name, split into words."""
    words = EVENT_WORDS.get(event_type)
    if words is not None:
        try:
            return words(data)
        except (KeyError, TypeError, ValueError):
            pass  # an older or newer shape of the event: fall back to its name
    return re.sub(r"(?<!^)(?=[A-Z])", " ", event_type).capitalize()


ACTOR_WORDS = {
    "patient": "the patient",
    "staff": "staff",
    "clinic_user": "a clinic user",
    "cs": "CS",
    "ops": "ops",
    "compliance": "compliance",
    "service": "a service",
    "policy": "policy",
    "webhook": "webhook",
    "system": "system",
}


def actor_words(actor: Mapping[str, str]) -> str:
    kind = actor.get("kind", "")
    return f"{ACTOR_WORDS.get(kind, kind)} · {actor.get('id', '')}"
