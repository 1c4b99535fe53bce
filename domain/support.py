"""What customer support and ops are told about an order: pure rules over folded state.

The CS view of DOMAIN.md (seed 001, "What CS should check") and the seed's escalation checklist.
Two halves, because they change for different reasons:
- `history_view` / `history_escalations` depend only on the order, its invoice, its refill and the
  original order's history, so a projection can keep them up to date event by event;
- `catalog_view` / `catalog_escalations` depend on the catalog and the patient *now* (current price,
  active flag, saved cards), so they are computed when the view is read.
Blocking causes, fixes and "explain" live in `domain.explain`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from domain.catalog import Product
from domain.explain import blockers
from domain.invoices import Invoice
from domain.orders import OpenedRefill, Order, OrderPlaced
from domain.parties import Patient
from domain.refills import Refill, eligibility_for_listing, refillable_products
from domain.status import order_status

CHARGED_BUT_NOT_UPDATED = "CHARGED_BUT_NOT_UPDATED"
DUPLICATE_REFILL_AFTER_FAILED_PAYMENT = "DUPLICATE_REFILL_AFTER_FAILED_PAYMENT"
REFILL_MISSING_ORIGINAL_LINK = "REFILL_MISSING_ORIGINAL_LINK"
MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT = "MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT"
FULFILLMENT_BEFORE_RX = "FULFILLMENT_BEFORE_RX"
PRICE_OR_ELIGIBILITY_SUSPECT = "PRICE_OR_ELIGIBILITY_SUSPECT"
ESCALATION_CODES = (
    CHARGED_BUT_NOT_UPDATED,
    DUPLICATE_REFILL_AFTER_FAILED_PAYMENT,
    REFILL_MISSING_ORIGINAL_LINK,
    MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT,
    FULFILLMENT_BEFORE_RX,
    PRICE_OR_ELIGIBILITY_SUSPECT,
)


@dataclass(frozen=True)
class Escalation:
    code: str
    sentence: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "sentence": self.sentence}


def kind_label(placed: OrderPlaced) -> str:
    """How CS tells a refill from a subscription renewal at a glance."""
    match placed.source_context:
        case "PATIENT_REFILL":
            if placed.refill_of_order_number:
                return f"Patient refill of order {placed.refill_of_order_number}"
            return "Patient refill (original order link missing)"
        case "SUBSCRIPTION_CYCLE":
            return (
                f"Subscription cycle {placed.cycle_number}" if placed.cycle_number else "Subscription cycle"
            )
        case "CLINIC_ORDER":
            return "Clinic cart order"
        case _:
            return "Order placed by staff (EMR checkout)"


_SOURCE_WORDS = {
    "PATIENT_REFILL": "Requested by the patient with the Request Refill button on the portal's Orders page "
    "and charged at once; it is not a subscription renewal.",
    "SUBSCRIPTION_CYCLE": "Created automatically by the subscription processor for a billing cycle; the "
    "patient did not request it.",
    "CLINIC_ORDER": "Ordered by a clinic through its multi-patient cart.",
    "CHECKOUT": "Placed by staff or the EMR at checkout.",
}


def source_words(placed: OrderPlaced) -> str:
    return _SOURCE_WORDS.get(placed.source_context, placed.source_context)


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


def history_escalations(
    order: Order,
    invoice: Invoice | None,
    *,
    refill: Refill | None,
    original: Order | None,
    duplicates: set[str],
) -> list[Escalation]:
    """The checklist items that follow from the order's, invoice's and refill's history alone."""
    found: list[Escalation] = []
    placed = order.placed
    charged = invoice is not None and invoice.succeeded_attempt is not None
    if (charged or (refill is not None and refill.charge == "succeeded")) and not order.paid:
        found.append(
            Escalation(
                CHARGED_BUT_NOT_UPDATED,
                "The gateway took the payment but the order was never "
                "marked charged, so its status did not move on.",
            )
        )
    if order.id in duplicates or any(r.refill_order_id in duplicates for r in order.refills):
        found.append(
            Escalation(
                DUPLICATE_REFILL_AFTER_FAILED_PAYMENT,
                "Another refill of the same product was "
                "created while an earlier refill's invoice was still open after a failed "
                "payment; that invoice should have been paid instead.",
            )
        )
    if placed.source_context == "PATIENT_REFILL":
        link_missing = not (
            placed.refill_of_order_id and placed.refill_of_order_number and placed.refill_product_id
        )
        unlinked = original is None or not any(r.refill_order_id == order.id for r in original.refills)
        if link_missing or unlinked:
            found.append(
                Escalation(
                    REFILL_MISSING_ORIGINAL_LINK,
                    "This refill order does not link back to an original order that records it.",
                )
            )
    if order.paid and order.medical_review_status in ("failed", "blocked"):
        what = (
            "was blocked: " + ", ".join(order.blocked_reasons)
            if order.medical_review_status == "blocked"
            else f"failed: {order.medical_review_error}"
        )
        found.append(
            Escalation(
                MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT,
                f"The order is paid but its medical review submission {what}.",
            )
        )
    moving = order.fulfillment_released or order.pharmacy_submitted or order.accepted
    if moving and medical_review_required(order):
        missing = [] if order.rx_med_ids else ["no prescription (RX_WRITTEN) was received"]
        if order.requires_intake and order.intake_status != "accepted":
            missing.append(f"intake is {order.intake_status}")
        if missing:
            found.append(
                Escalation(
                    FULFILLMENT_BEFORE_RX,
                    "The order was sent towards the pharmacy although " + " and ".join(missing) + ".",
                )
            )
    suspect = _history_suspicions(order, invoice, original)
    if suspect:
        found.append(
            Escalation(PRICE_OR_ELIGIBILITY_SUSPECT, "The refill looks wrong: " + "; ".join(suspect) + ".")
        )
    return found


def _history_suspicions(order: Order, invoice: Invoice | None, original: Order | None) -> list[str]:
    placed = order.placed
    if placed.source_context != "PATIENT_REFILL":
        return []
    found: list[str] = []
    if len(placed.lines) != 1 or placed.lines[0].quantity != 1:
        found.append("a refill is one line of quantity 1")
    elif placed.refill_product_id and placed.lines[0].product_id != placed.refill_product_id:
        found.append("its line is not the refill product")
    total = sum(ln.total_cents for ln in placed.lines)
    if invoice is not None and invoice.amount_cents != total:
        found.append(f"the invoice is for {invoice.amount_cents} cents but the order totals {total}")
    if (
        original is not None
        and placed.refill_product_id
        and original.line_for(placed.refill_product_id) is None
    ):
        found.append("the product is not on the original order")
    if original is not None and (original.charged_at is None or original.charged_at > placed.placed_at):
        found.append("the original order was not paid when the refill was created")
    return found


def catalog_escalations(order: Order, product_at_placement: Product | None) -> list[Escalation]:
    """Checks against the catalog as it was when the refill was placed (price snapshot, active flag)."""
    placed = order.placed
    if placed.source_context != "PATIENT_REFILL" or product_at_placement is None or not placed.lines:
        return []
    found: list[str] = []
    price = placed.lines[0].unit_price_cents
    if price != product_at_placement.price_cents:
        found.append(
            f"it was charged {price} cents while the product's price then was "
            f"{product_at_placement.price_cents}"
        )
    if not product_at_placement.active:
        found.append("the product was inactive when the refill was created")
    if not found:
        return []
    return [Escalation(PRICE_OR_ELIGIBILITY_SUSPECT, "The refill looks wrong: " + "; ".join(found) + ".")]


def merge_escalations(*groups: Sequence[Escalation]) -> list[Escalation]:
    """One entry per code, sentences joined, in the checklist's order."""
    by_code: dict[str, list[str]] = {}
    for group in groups:
        for e in group:
            if e.sentence not in by_code.setdefault(e.code, []):
                by_code[e.code].append(e.sentence)
    return [Escalation(code, " ".join(by_code[code])) for code in ESCALATION_CODES if code in by_code]


def history_view(
    order: Order,
    invoice: Invoice | None,
    *,
    refill: Refill | None,
    original: Order | None,
    duplicates: set[str],
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
        "kind_label": kind_label(placed),
        "source_explanation": source_words(placed),
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
        "escalations": [
            e.as_dict()
            for e in history_escalations(
                order, invoice, refill=refill, original=original, duplicates=duplicates
            )
        ],
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
