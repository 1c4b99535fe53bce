"""Checkout as a decision: a valid cart becomes one order per line and one invoice for them all.

Each order is `CLINIC_CART` / `CLINIC_ORDER`, carries its line's pharmacy, SIG and prescriber for
routing, and snapshots its price: vial price + fees as the unit price and the line's share of its
shipment's fee as `shipping_cents`, so the invoice (the one charge) is exactly the cart total shown.
Each line's vials are reserved at its pharmacy in the same commit (`reservations`).

The prescription is written in-house by the clinic's prescriber, so each
order also records `RxWritten` (master id `clinic:<NPI>`): the order then waits for payment and for
its pharmacy to accept, never for a Beluga review that clinic orders do not need.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from domain.catalog import Product
from domain.clinic.cart import Cart, CartCheckedOut
from domain.clinic.pharmacies import PharmacyStockReserved
from domain.clinic.pricing import LandedCost, PricedLine, landed_cost, shipping_shares
from domain.clinic.routing import rx_med_id
from domain.clinic.validation import CartNotValid, CartWorld, validate_cart
from domain.errors import Conflict, InvalidCommand
from domain.invoices import InvoiceIssued
from domain.orders import OrderLine, OrderPlaced, RxWritten


@dataclass(frozen=True)
class CheckoutIds:
    invoice_id: str
    order_ids: tuple[str, ...]  # one per line, in line order
    order_numbers: tuple[str, ...]


@dataclass(frozen=True)
class PlannedOrder:
    order_id: str
    placed: OrderPlaced
    rx: RxWritten


@dataclass(frozen=True)
class CheckoutPlan:
    orders: tuple[PlannedOrder, ...]
    invoice: InvoiceIssued
    checked_out: CartCheckedOut
    reservations: dict[str, list[PharmacyStockReserved]]  # by pharmacy id


def price_cart(cart: Cart, world: CartWorld) -> dict[str, LandedCost]:
    """Current landed cost of every line whose pharmacy still lists the product (by line id)."""
    listed = [
        ln
        for ln in cart.lines.values()
        if (ph := world.pharmacies.get(ln.pharmacy_id)) is not None and ph.offering(ln.product_id)
    ]
    shares = shipping_shares(
        (PricedLine(ln.id, ln.patient_id, ln.pharmacy_id, ln.quantity) for ln in listed), world.pharmacies
    )
    priced: dict[str, LandedCost] = {}
    for line in listed:
        offering = world.pharmacies[line.pharmacy_id].offerings[line.product_id]
        priced[line.id] = landed_cost(offering, line.quantity, shares[line.id])
    return priced


def order_name(product: Product, strength: str) -> str:
    """The product's name with its strength, said once ("Semaglutide 2.5 mg/mL", not twice)."""
    if strength.casefold() in product.name.casefold():
        return product.name
    return f"{product.name} {strength}"


def cart_total(priced: Mapping[str, LandedCost]) -> int:
    return sum(p.line_total_cents for p in priced.values())


def plan_checkout(cart: Cart, world: CartWorld, ids: CheckoutIds, now: datetime) -> CheckoutPlan:
    if cart.checked_out is not None:
        raise Conflict(reasons=("CART_CHECKED_OUT",))
    problems = validate_cart(cart, world)
    if problems:
        raise CartNotValid(problems)
    lines = list(cart.lines.values())
    assert len(ids.order_ids) == len(lines) == len(ids.order_numbers)
    currencies = {world.pharmacies[ln.pharmacy_id].currency for ln in lines}
    if len(currencies) != 1:
        raise InvalidCommand(field="lines", rule="CART_CURRENCIES_MIXED")
    currency = currencies.pop()
    priced = price_cart(cart, world)
    orders = []
    reservations: dict[str, list[PharmacyStockReserved]] = {}
    for line, order_id, number in zip(lines, ids.order_ids, ids.order_numbers, strict=True):
        product, pharmacy = world.products[line.product_id], world.pharmacies[line.pharmacy_id]
        offering, cost = pharmacy.offerings[line.product_id], priced[line.id]
        prescriber = world.prescribers[line.prescriber_id]
        # In-house prescribing: the clinic examined the patient, so the portal's intake and lab
        # requirements (for telehealth consults) do not gate these orders.
        order_line = OrderLine(
            product_id=product.id,
            sku=product.sku,
            name=order_name(product, offering.strength),
            kind=product.kind,
            quantity=line.quantity,
            unit_price_cents=cost.vial_cents,
            shipping_cents=cost.shipping_share_cents,
            pharmacy_id=pharmacy.id,
            sig=line.sig,
            prescriber_id=prescriber.id,
        )
        placed = OrderPlaced(
            number=number,
            patient_id=line.patient_id,
            invoice_id=ids.invoice_id,
            lines=(order_line,),
            currency=currency,
            source="CLINIC_CART",
            source_context="CLINIC_ORDER",
            placed_at=now,
            clinic_id=cart.clinic_id,
            cart_id=cart.id,
        )
        rx = RxWritten(
            master_id=f"clinic:{prescriber.npi}",
            med_ids=(rx_med_id(product),),
            vendor_event_id=f"clinic-rx:{order_id}",
            written_at=now,
        )
        orders.append(PlannedOrder(order_id, placed, rx))
        reservations.setdefault(pharmacy.id, []).append(
            PharmacyStockReserved(product_id=product.id, quantity=line.quantity, order_id=order_id)
        )
    total = cart_total(priced)
    invoice = InvoiceIssued(
        order_ids=ids.order_ids, amount_cents=total, currency=currency, clinic_id=cart.clinic_id
    )
    done = CartCheckedOut(
        invoice_id=ids.invoice_id,
        order_ids=ids.order_ids,
        line_ids=tuple(ln.id for ln in lines),
        total_cents=total,
        currency=currency,
    )
    return CheckoutPlan(tuple(orders), invoice, done, reservations)
