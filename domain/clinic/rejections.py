"""A paid clinic line the pharmacy rejected: a typed condition, and the clinic's two ways out.

The clinic paid for the line in its cart's one charge; the pharmacy then said no (a SIG it could
not read, a licence it doubted, stock it did not have). The line must not sit REJECTED on a PAID
invoice unseen: `rejected_paid_line` is the condition the escalation policy raises on (and clears
when it no longer holds), and the clinic chooses to fix and resubmit it (the one resubmission use
case) or to refund that line alone (a partial refund of the cart's invoice through its gateway).
Words for people live in the presentation layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from domain.clinic.routing import clinic_pharmacy_id, is_clinic_order
from domain.orders import Order

Remedy = Literal["RESUBMIT", "REFUND_LINE"]


@dataclass(frozen=True)
class RejectedPaidClinicLine:
    order_id: str
    clinic_id: str
    pharmacy_id: str | None
    partner: str | None
    reason: str  # the pharmacy's own words, as it sent them
    amount_cents: int  # what refunding the line gives back
    remedies: tuple[Remedy, ...] = ("RESUBMIT", "REFUND_LINE")

    @property
    def escalate(self) -> bool:
        """Always: the clinic has paid and the patient will get nothing until someone acts."""
        return True


def rejected_paid_line(order: Order) -> RejectedPaidClinicLine | None:
    if not is_clinic_order(order) or not order.paid or order.pharmacy_rejected_reason is None:
        return None
    if order.refunded or order.canceled_reason is not None or order.shipped or order.delivered:
        return None
    return RejectedPaidClinicLine(
        order_id=order.id,
        clinic_id=order.placed.clinic_id or "",
        pharmacy_id=clinic_pharmacy_id(order),
        partner=order.fulfillment_partner,
        reason=order.pharmacy_rejected_reason,
        amount_cents=sum(line.total_cents for line in order.placed.lines),
    )
