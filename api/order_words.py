"""What kind of order this is, in words: "is this my subscription renewal or a refill?"

The order's facts say where it came from (`source_context`, the refill link, the cycle number);
this module says it to the reader. Keyed by the domain's `SourceContext`, so a new source without
words fails `tests/unit/test_order_words.py`.
"""

from __future__ import annotations

from collections.abc import Mapping

from api.explain_words import Audience
from domain.orders import OrderPlaced, SourceContext

# (label, explanation) templates per source and reader.
KIND_WORDS: Mapping[Audience, Mapping[SourceContext, tuple[str, str]]] = {
    "patient": {
        "PATIENT_REFILL": (
            "Refill of order {original}",
            "You requested this refill with the Request Refill button; it is not a subscription renewal.",
        ),
        "SUBSCRIPTION_CYCLE": (
            "Subscription renewal{cycle}",
            "Your subscription created this order for its billing cycle; you did not request it as a refill.",
        ),
        "CLINIC_ORDER": ("Ordered by your clinic", "Your clinic ordered this for you."),
        "CHECKOUT": ("Order", "Placed for you at checkout."),
    },
    "staff": {
        "PATIENT_REFILL": (
            "Patient refill of order {original}",
            "Requested by the patient with the Request Refill button on the portal's Orders page and "
            "charged at once; it is not a subscription renewal.",
        ),
        "SUBSCRIPTION_CYCLE": (
            "Subscription cycle{cycle_number}",
            "Created automatically by the subscription processor for a billing cycle; the patient did "
            "not request it.",
        ),
        "CLINIC_ORDER": ("Clinic cart order", "Ordered by a clinic through its multi-patient cart."),
        "CHECKOUT": ("Order placed by staff (EMR checkout)", "Placed by staff or the EMR at checkout."),
    },
}


def order_kind(placed: OrderPlaced, audience: Audience) -> tuple[str, str]:
    """(label, explanation) of an order's kind for this reader."""
    return kind_words(placed.source_context, placed.refill_of_order_number, placed.cycle_number, audience)


def kind_words(
    source_context: str, refill_of_number: str | None, cycle_number: int | None, audience: Audience
) -> tuple[str, str]:
    """The same, from the fields a read model keeps (the CS view, the search index)."""
    known = KIND_WORDS[audience]
    # An unknown source reads as a checkout order.
    label, explanation = next((w for c, w in known.items() if c == source_context), known["CHECKOUT"])
    if source_context == "PATIENT_REFILL" and not refill_of_number:
        label = "Patient refill (original order link missing)" if audience == "staff" else "Refill"
    cycle = f" — cycle {cycle_number}" if cycle_number else ""
    number = f" {cycle_number}" if cycle_number else ""
    return label.format(original=refill_of_number, cycle=cycle, cycle_number=number), explanation
