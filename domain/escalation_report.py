"""The seed's "Include these details when escalating" block, as typed values (the words: `api/presentation`).

Built from the order's state now, not as it was when the escalation was raised: CS copies the report to
hand the case on, and the next person needs the current payment, status and Beluga error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from domain.catalog import Product
from domain.invoices import Invoice
from domain.orders import Order
from domain.parties import Patient
from domain.refills import eligibility_for_listing
from domain.status import order_status
from domain.support import medical_review_required, payment_summary


@dataclass(frozen=True)
class EscalationReport:
    patient_name: str | None
    patient_email: str | None
    original_order_number: str | None
    refill_order_number: str | None  # None when the order is not a patient refill
    refill_product_name: str | None
    invoice_status: str | None
    payment_status: str
    gateway_error: str | None
    order_status: str
    review_required: bool
    review_status: str
    review_error: str | None
    review_blocked: tuple[str, ...]
    button_visible: bool  # does the patient see the refill button on the original order?
    button_reasons: tuple[str, ...]  # why not: refill eligibility codes (NOT_PAID, PRODUCT_INACTIVE, …)


def build_report(
    order: Order,
    invoice: Invoice | None,
    patient: Patient | None,
    original: Order | None,
    products: Mapping[str, Product],
    active_gateway: str,
) -> EscalationReport:
    """`products`: the refill-button order's products now (the original's for a refill)."""
    placed = order.placed
    is_refill = placed.source_context == "PATIENT_REFILL"
    product_id = placed.refill_product_id or (placed.lines[0].product_id if placed.lines else None)
    line = order.line_for(product_id) if product_id else None
    button_order = original if is_refill else order
    if button_order is None:
        reasons: list[str] = ["ORIGINAL_ORDER_MISSING"]
    elif patient is None:
        reasons = ["PATIENT_UNKNOWN"]
    else:
        reasons = eligibility_for_listing(button_order, patient, products, active_gateway)
    payment = payment_summary(invoice)
    return EscalationReport(
        patient_name=patient.name if patient else None,
        patient_email=patient.email if patient else None,
        original_order_number=placed.refill_of_order_number if is_refill else placed.number,
        refill_order_number=placed.number if is_refill else None,
        refill_product_name=line.name if line else None,
        invoice_status=invoice.status if invoice else None,
        payment_status=str(payment["status"]),
        gateway_error=payment["gateway_error"],
        order_status=order_status(order),
        review_required=medical_review_required(order),
        review_status=order.medical_review_status,
        review_error=order.medical_review_error,
        review_blocked=order.blocked_reasons,
        button_visible=not reasons,
        button_reasons=tuple(reasons),
    )
