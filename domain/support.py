"""What customer support and ops are told about an order: pure rules over folded state.

The CS view of DOMAIN.md (seed 001, "What CS should check"). Two halves, because they change for
different reasons:
- `history_view` depends only on the order, its invoice, its refill and the original order's history,
  so a projection can keep it up to date event by event;
- `catalog_view` depends on the catalog and the patient *now* (current price, active flag, saved
  cards), so it is computed when the view is read.
Escalations are facts raised by a policy (`domain/escalations.py`, conditions in
`domain/escalation_conditions.py`); blocking causes and "explain" live in `domain.explain`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from domain.catalog import Product
from domain.explain import blockers
from domain.invoices import Invoice
from domain.orders import OpenedRefill, Order
from domain.parties import Patient
from domain.refills import Refill, eligibility_for_listing, refillable_products
from domain.status import order_status


def medical_review_required(order: Order) -> bool:
    """Portal and EMR medication orders go through Beluga; a clinic's own prescriber covers cart orders."""
    return order.is_medication and order.placed.source != "CLINIC_CART"


def payment_summary(invoice: Invoice | None) -> dict[str, Any]:
    if invoice is None:
        return {
            "status": "unknown",
            "gateway": None,
            "gateway_error": None,
            "decline_code": None,
            "attempts": 0,
        }
    last = invoice.last_attempt
    if invoice.status in ("REFUNDED", "VOID"):
        status = invoice.status.lower()
    elif invoice.succeeded_attempt is not None:
        status = "succeeded"
    elif last is None:
        status = "not_attempted"
    else:
        status = last.outcome  # pending | failed
    failed = last if last is not None and last.outcome == "failed" else None
    return {
        "status": status,
        "gateway": last.gateway if last else None,
        "gateway_error": failed.message if failed else None,
        "decline_code": failed.decline_code if failed else None,
        "attempts": len(invoice.attempts),
    }


def duplicate_refill_orders(refills: Sequence[OpenedRefill], invoices: Mapping[str, Invoice]) -> set[str]:
    """Refill orders of one original that duplicate an earlier refill left open after a failed charge.

    Seed 001: a failed refill payment leaves the order and invoice in place for retry; another refill of
    the same product while that invoice is still open is the duplicate CS must never cause.
    """
    flagged: set[str] = set()
    for index, earlier in enumerate(refills):
        invoice = invoices.get(earlier.invoice_id)
        if (
            invoice is None
            or invoice.status != "OPEN"
            or not any(a.outcome == "failed" for a in invoice.attempts)
        ):
            continue
        later = [r for r in refills[index + 1 :] if r.product_id == earlier.product_id]
        if later:
            flagged |= {earlier.refill_order_id, *(r.refill_order_id for r in later)}
    return flagged


def history_view(
    order: Order,
    invoice: Invoice | None,
    *,
    refill: Refill | None,
    original: Order | None,
) -> dict[str, Any]:
    """Every CS field that the order's own history decides, as plain JSON-ready data."""
    placed = order.placed
    status = order_status(order)
    waiting = blockers(order, invoice)
    return {
        "order_id": order.id,
        "order_number": placed.number,
        "patient_id": placed.patient_id,
        "status": status,
        "waiting_for": [asdict(b) for b in waiting],  # typed; the API puts it into words
        "source": placed.source,
        "source_context": placed.source_context,
        "is_refill": placed.source_context == "PATIENT_REFILL",
        "is_subscription_cycle": placed.source_context == "SUBSCRIPTION_CYCLE",
        "subscription_id": placed.subscription_id,
        "cycle_number": placed.cycle_number,
        "original_order": None
        if placed.refill_of_order_id is None
        else {
            "id": placed.refill_of_order_id,
            "number": placed.refill_of_order_number,
            "paid": original.paid if original else None,
            "status": order_status(original) if original else None,
        },
        "refill_product_id": placed.refill_product_id,
        "refill_request": None
        if refill is None
        else {
            "id": refill.id,
            "charge": refill.charge,
            "message": refill.message,
            "payment_method_id": refill.requested.payment_method_id,
        },
        "refill_orders": [
            {
                "order_id": r.refill_order_id,
                "number": r.refill_order_number,
                "product_id": r.product_id,
                "invoice_id": r.invoice_id,
            }
            for r in order.refills
        ],
        "lines": [
            {
                "product_id": ln.product_id,
                "name": ln.name,
                "quantity": ln.quantity,
                "unit_price_cents": ln.unit_price_cents,
            }
            for ln in placed.lines
        ],
        "placed_at": placed.placed_at.isoformat(),
        "charged_at": order.charged_at.isoformat() if order.charged_at else None,
        "invoice": None
        if invoice is None
        else {
            "id": invoice.id,
            "status": invoice.status,
            "amount_cents": invoice.amount_cents,
            "currency": invoice.issued.currency,
        },
        "payment": payment_summary(invoice),
        "intake": {
            "required": order.requires_intake,
            "status": order.intake_status,
            "done": (not order.requires_intake) or order.intake_status == "accepted",
        },
        "medical_review": {
            "required": medical_review_required(order),
            "status": order.medical_review_status,
            "master_id": order.master_id,
            "attempts": order.medical_review_attempts,
            "blocked_reasons": list(order.blocked_reasons),
            "error": order.medical_review_error,
            "prescribed_med_ids": list(order.rx_med_ids),
        },
        "fulfillment": {
            "released": order.fulfillment_released,
            "partner": order.fulfillment_partner,
            "submitted": order.pharmacy_submitted,
            "external_id": order.pharmacy_external_id,
            "held_by": list(order.held_by),
            "error": order.pharmacy_error,
            "rejected_reason": order.pharmacy_rejected_reason,
            "attempt": order.pharmacy_attempt,
            "previous_problems": list(order.previous_pharmacy_problems),
            "carrier": order.carrier,
            "tracking": order.tracking,
        },
    }


def catalog_view(
    order: Order, products: Mapping[str, Product], patient: Patient | None, active_gateway: str
) -> dict[str, Any]:
    """The refill block: may this order be refilled now, why not, and the product's state now."""
    placed = order.placed
    product_id = placed.refill_product_id or (placed.lines[0].product_id if placed.lines else None)
    product = products.get(product_id) if product_id else None
    reasons = (
        eligibility_for_listing(order, patient, products, active_gateway)
        if patient is not None
        else ["PATIENT_UNKNOWN"]
    )
    offered = refillable_products(order, products)
    return {
        "eligible": not reasons,
        "reasons": reasons,
        "product": None
        if product_id is None
        else {
            "id": product_id,
            "name": product.name if product else None,
            "active": product.active if product else False,
            "current_price_cents": product.price_cents if product else None,
            "price_on_this_order_cents": next(
                (ln.unit_price_cents for ln in placed.lines if ln.product_id == product_id), None
            ),
        },
        "refillable_products": [
            {"id": p.id, "name": p.name, "current_price_cents": p.price_cents} for p in offered
        ],
    }
