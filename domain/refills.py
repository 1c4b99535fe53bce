"""Patient refills (seed 001): who may refill what, and what a refill request records.

Eligibility is exactly the six rules of DOMAIN.md; a refusal names every failed rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from domain.catalog import Product
from domain.events import Fact
from domain.invoices import InvoiceIssued
from domain.orders import OpenedRefill, Order, OrderLine, OrderPlaced, RefillOpened
from domain.parties import Patient
from domain.status import REFILL_ELIGIBLE_STATUSES, OrderStatus, order_status

ORDER_NOT_OWNED = "ORDER_NOT_OWNED"
NOT_PAID = "NOT_PAID"
STATUS_NOT_ELIGIBLE = "STATUS_NOT_ELIGIBLE"
PRODUCT_NOT_ON_ORDER = "PRODUCT_NOT_ON_ORDER"
PRODUCT_INACTIVE = "PRODUCT_INACTIVE"
NO_SAVED_PAYMENT_METHOD = "NO_SAVED_PAYMENT_METHOD"
PAYMENT_METHOD_NOT_USABLE = "PAYMENT_METHOD_NOT_USABLE"


def order_level_reasons(order: Order, patient: Patient, active_gateway: str) -> list[str]:
    """Rules 1, 2, 3 and 6 (first half): what holds for the order whatever product is picked."""
    reasons: list[str] = []
    if order.patient_id != patient.id:
        reasons.append(ORDER_NOT_OWNED)
    if not order.paid:
        reasons.append(NOT_PAID)
    if order_status(order) not in REFILL_ELIGIBLE_STATUSES:
        reasons.append(STATUS_NOT_ELIGIBLE)
    if not patient.methods_for(active_gateway):
        reasons.append(NO_SAVED_PAYMENT_METHOD)
    return reasons


def refillable_products(order: Order, products: Mapping[str, Product]) -> list[Product]:
    """Products on the order that still exist in the catalog and are active (rules 4 and 5)."""
    found = (products.get(line.product_id) for line in order.placed.lines)
    return [p for p in found if p is not None and p.active]


def eligibility_for_listing(
    order: Order, patient: Patient, products: Mapping[str, Product], active_gateway: str
) -> list[str]:
    """Why the portal shows no refill button (empty list: it shows one)."""
    reasons = order_level_reasons(order, patient, active_gateway)
    if not refillable_products(order, products):
        reasons.append(PRODUCT_INACTIVE)
    return reasons


def eligibility_for_request(
    order: Order,
    patient: Patient,
    product: Product | None,
    product_id: str,
    payment_method_id: str,
    active_gateway: str,
) -> list[str]:
    """All six rules for one concrete request."""
    reasons = order_level_reasons(order, patient, active_gateway)
    if order.line_for(product_id) is None:
        reasons.append(PRODUCT_NOT_ON_ORDER)
    elif product is None or not product.active:
        reasons.append(PRODUCT_INACTIVE)
    method = patient.method(payment_method_id)
    if NO_SAVED_PAYMENT_METHOD not in reasons and (method is None or method.gateway != active_gateway):
        reasons.append(PAYMENT_METHOD_NOT_USABLE)
    return reasons


CLOSED_STATUSES = frozenset({"CANCELED", "REFUNDED", "REJECTED", "COMPLETED"})


def refill_to_check(order: Order, product_id: str) -> OpenedRefill | None:
    """The one earlier refill of this product that may still be open: the newest.

    A refill is requested only when the earlier ones of its product are closed, so the original
    order's own list of its refills (written in the refill's transaction) is the open-refill index:
    the check reads one refill order, never every earlier one.
    """
    return next((r for r in reversed(order.refills) if r.product_id == product_id), None)


REFILL_IN_PROGRESS = "REFILL_IN_PROGRESS"


@dataclass(frozen=True)
class RefillInProgress:
    """An earlier refill of a product that is still open: unpaid, or paid and not yet delivered."""

    product_id: str
    refill_id: str
    refill_order_id: str
    refill_order_number: str
    status: OrderStatus
    paid: bool


def refill_in_progress(
    order: Order, product_id: str, refill_orders: Mapping[str, Order]
) -> RefillInProgress | None:
    """The open refill of this product, if any (`refill_orders` holds at least the newest one)."""
    for refill in reversed(order.refills):
        if refill.product_id != product_id:
            continue
        refill_order = refill_orders.get(refill.refill_order_id)
        if refill_order is not None and order_status(refill_order) not in CLOSED_STATUSES:
            return RefillInProgress(
                product_id,
                refill.refill_id,
                refill.refill_order_id,
                refill.refill_order_number,
                order_status(refill_order),
                refill_order.paid,
            )
    return None


def open_refill(order: Order, product_id: str, refill_orders: Mapping[str, Order]) -> str | None:
    """An earlier refill of this product that is still open is returned, never duplicated.

    Open means unpaid (returned for payment: a retry after a decline) or paid and still on its
    way (a double click or a second tab must not buy the same refill twice). Once it is
    delivered, canceled, refunded or rejected a new refill may be requested.
    """
    for refill in reversed(order.refills):
        refill_order = refill_orders.get(refill.refill_order_id)
        if (
            refill.product_id == product_id
            and refill_order is not None
            and order_status(refill_order) not in CLOSED_STATUSES
        ):
            return refill.refill_id
    return None


class RefillFact(Fact):
    AGGREGATE = "refill"


class RefillRequested(RefillFact):
    TYPE = "RefillRequested"
    patient_id: str
    original_order_id: str
    original_order_number: str
    product_id: str
    payment_method_id: str
    refill_order_id: str
    refill_order_number: str
    invoice_id: str
    idempotency_key: str | None
    trigger: str = "patient_portal"


class RefillChargeSucceeded(RefillFact):
    TYPE = "RefillChargeSucceeded"
    attempt: int


class RefillChargeFailed(RefillFact):
    TYPE = "RefillChargeFailed"
    attempt: int
    decline_code: str | None
    message: str


@dataclass(frozen=True)
class Refill:
    id: str
    requested: RefillRequested
    charge: str = "pending"  # pending | succeeded | failed
    message: str | None = None


def evolve_refill(state: Refill | None, fact: Fact, aggregate_id: str) -> Refill:
    if isinstance(fact, RefillRequested):
        return Refill(id=aggregate_id, requested=fact)
    assert state is not None
    if isinstance(fact, RefillChargeSucceeded):
        return replace(state, charge="succeeded", message=None)
    if isinstance(fact, RefillChargeFailed):
        return replace(state, charge="failed", message=fact.message)
    return state


@dataclass(frozen=True)
class RefillIds:
    """Ids and the order number, generated outside the domain and handed in as data."""

    refill_id: str
    order_id: str
    order_number: str
    invoice_id: str


@dataclass(frozen=True)
class RefillDecision:
    refill: RefillRequested
    order: OrderPlaced
    invoice: InvoiceIssued
    original: RefillOpened


def request_refill(
    original: Order,
    product: Product,
    patient: Patient,
    payment_method_id: str,
    ids: RefillIds,
    idempotency_key: str | None,
    now: datetime,
) -> RefillDecision:
    """Decide a refill: a new order of quantity 1 at the product's *current* price, linked back."""
    original_line = original.line_for(product.id)
    assert original_line is not None  # eligibility checked PRODUCT_NOT_ON_ORDER first
    line = OrderLine(
        product_id=product.id,
        sku=product.sku,
        name=product.name,
        kind=product.kind,
        quantity=1,
        unit_price_cents=product.price_cents,
        requires_intake=product.requires_intake,
        lab=product.lab,
    )
    order = OrderPlaced(
        number=ids.order_number,
        patient_id=patient.id,
        invoice_id=ids.invoice_id,
        lines=(line,),
        currency=product.currency,
        source="PATIENT_PORTAL",
        source_context="PATIENT_REFILL",
        placed_at=now,
        refill_of_order_id=original.id,
        refill_of_order_number=original.number,
        refill_product_id=product.id,
        refill_original_quantity=original_line.quantity,
    )
    invoice = InvoiceIssued(
        order_ids=(ids.order_id,),
        amount_cents=product.price_cents,
        currency=product.currency,
        patient_id=patient.id,
    )
    refill = RefillRequested(
        patient_id=patient.id,
        original_order_id=original.id,
        original_order_number=original.number,
        product_id=product.id,
        payment_method_id=payment_method_id,
        refill_order_id=ids.order_id,
        refill_order_number=ids.order_number,
        invoice_id=ids.invoice_id,
        idempotency_key=idempotency_key,
    )
    opened = RefillOpened(
        refill_id=ids.refill_id,
        refill_order_id=ids.order_id,
        refill_order_number=ids.order_number,
        product_id=product.id,
        invoice_id=ids.invoice_id,
    )
    return RefillDecision(refill=refill, order=order, invoice=invoice, original=opened)
