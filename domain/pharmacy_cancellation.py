"""Conditions about an order that reached a pharmacy and was closed afterwards (issue 10, defect 1).

A refund or cancel that lands after the submission (or while the pharmacy call was in flight)
cannot un-send the order: the ledger asks the pharmacy to cancel it, and a person must make sure
it stopped. These typed conditions are what the pharmacy canceller acts on and what the
escalation policy reads; the words shown to people live in the presentation layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from domain.orders import Order

CancellationState = Literal["needed", "requested", "failed"]


@dataclass(frozen=True)
class PharmacyCancellationCondition:
    """A closed order that is (or may be) at a pharmacy."""

    order_id: str
    partner: str
    external_id: str | None
    closed_as: Literal["REFUNDED", "CANCELED"]
    state: CancellationState  # needed: not asked yet; requested: asked; failed: refused or unreachable
    error: str | None = None

    @property
    def escalate(self) -> bool:
        """Every closed-after-submission order is escalated: medication may already be compounded."""
        return True


def pharmacy_cancellation(order: Order) -> PharmacyCancellationCondition | None:
    if not order.pharmacy_submitted:
        return None
    if order.canceled_reason is not None:
        closed_as: Literal["REFUNDED", "CANCELED"] = "CANCELED"
    elif order.refunded:
        closed_as = "REFUNDED"
    else:
        return None
    state: CancellationState = (
        "requested"
        if order.pharmacy_cancellation == "requested"
        else "failed"
        if order.pharmacy_cancellation == "failed"
        else "needed"
    )
    return PharmacyCancellationCondition(
        order.id,
        order.fulfillment_partner or "",
        order.pharmacy_external_id,
        closed_as,
        state,
        order.pharmacy_cancellation_error,
    )


def needs_pharmacy_cancellation(order: Order) -> bool:
    """The canceller should ask: not asked yet (a refusal is final and left to a person)."""
    found = pharmacy_cancellation(order)
    return found is not None and found.state == "needed"
