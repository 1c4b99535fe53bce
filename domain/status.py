"""Order status: one pure function of an order's facts. Nothing else ever sets a status."""

from __future__ import annotations

from typing import Literal

from domain.orders import Order

OrderStatus = Literal[
    "CANCELED",
    "REFUNDED",
    "REJECTED",
    "PENDING_PAYMENT",
    "AWAITING_REQUIREMENTS",
    "AWAITING_REQUISITION",
    "AWAITING_RESULTS",
    "AWAITING_SCRIPT",
    "AWAITING_FULFILLMENT",
    "PROCESSING",
    "AWAITING_SHIPMENT",
    "SHIPPED",
    "COMPLETED",
]

REFILL_ELIGIBLE_STATUSES: frozenset[str] = frozenset(
    {
        "AWAITING_FULFILLMENT",
        "AWAITING_REQUIREMENTS",
        "AWAITING_REQUISITION",
        "AWAITING_RESULTS",
        "AWAITING_SCRIPT",
        "AWAITING_SHIPMENT",
        "PROCESSING",
        "SHIPPED",
        "COMPLETED",
    }
)


def needs_lab(order: Order, step: str) -> bool:
    return any(line.lab is not None and step in line.lab.steps for line in order.placed.lines)


def rx_covers_request(order: Order) -> bool:
    """A prescription was written for what we asked Beluga for (an RX for another medId is not one)."""
    return bool(order.rx_med_ids) and set(order.submitted_med_ids) <= set(order.rx_med_ids)


def order_status(order: Order) -> OrderStatus:
    # Terminal facts win over everything.
    if order.canceled_reason is not None:
        return "CANCELED"
    if order.refunded:
        return "REFUNDED"
    if (
        order.pharmacy_rejected_reason is not None
        or order.intake_status == "rejected"
        or order.consult_outcome == "rejected"
    ):
        return "REJECTED"
    # Progress reported by the pharmacy is monotonic: the furthest fact wins.
    if order.delivered:
        return "COMPLETED"
    if order.shipped:
        return "SHIPPED"
    if not order.paid:
        return "PENDING_PAYMENT"
    if order.accepted or order.processing:
        return "PROCESSING"
    if order.requires_intake and order.intake_status != "accepted":
        return "AWAITING_REQUIREMENTS"
    if needs_lab(order, "requisition") and not order.lab_requisition:
        return "AWAITING_REQUISITION"
    if needs_lab(order, "results") and not order.lab_results:
        return "AWAITING_RESULTS"
    if order.is_medication and not rx_covers_request(order):
        return "AWAITING_SCRIPT"
    return "AWAITING_FULFILLMENT"
