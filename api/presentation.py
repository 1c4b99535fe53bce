"""Words and links for people: the one place typed support values become sentences.

`domain/` and `service/` return codes and typed values (kinds, statuses, escalation details); the API
and the console (`api/console/…`) both import this module to say them in plain words, so a page and
a JSON answer never word the same fact differently.
"""

from __future__ import annotations


def kind_label(source_context: str, refill_of_number: str | None, cycle_number: int | None) -> str:
    """How CS tells a refill from a subscription renewal at a glance."""
    match source_context:
        case "PATIENT_REFILL":
            if refill_of_number:
                return f"Patient refill of order {refill_of_number}"
            return "Patient refill (original order link missing)"
        case "SUBSCRIPTION_CYCLE":
            return f"Subscription cycle {cycle_number}" if cycle_number else "Subscription cycle"
        case "CLINIC_ORDER":
            return "Clinic cart order"
        case _:
            return "Order placed by staff (EMR checkout)"
