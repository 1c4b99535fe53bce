"""The fulfillment gate: facts in, Release or Hold out. Pure; the policy runner does the I/O.

Submission to a pharmacy is released only when every check passes (DOMAIN.md, "The fulfillment
gate"). A payment alone never releases: for a medication the prescription must be confirmed by an
RX_WRITTEN naming the product's own medId. Each decision names the checks that passed and failed,
and those names are recorded, so CS can read why an order is (not) at the pharmacy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from domain.catalog import Product
from domain.clinic.routing import ClinicRoute, Unroutable, rx_med_id
from domain.events import Fact
from domain.medical_review import needs_medical_review
from domain.orders import FulfillmentHeld, FulfillmentReleased, Order, OrderLine
from domain.status import needs_lab, order_status

INVOICE_PAID = "INVOICE_PAID"
ORDER_OPEN = "ORDER_OPEN"
INTAKE_COMPLETE = "INTAKE_COMPLETE"
LAB_COMPLETE = "LAB_COMPLETE"
MEDICAL_REVIEW_COMPLETE = "MEDICAL_REVIEW_COMPLETE"
RX_CONFIRMED = "RX_CONFIRMED"
PHARMACY_CONFIGURED = "PHARMACY_CONFIGURED"
CHECKS: tuple[str, ...] = (
    INVOICE_PAID,
    ORDER_OPEN,
    INTAKE_COMPLETE,
    LAB_COMPLETE,
    MEDICAL_REVIEW_COMPLETE,
    RX_CONFIRMED,
    PHARMACY_CONFIGURED,
)
# Recorded among the failed checks, beside RX_CONFIRMED, when a prescription exists but names
# another drug: the one hold CS must act on (the escalation "fulfillment before Rx" guards it).
RX_MEDID_MISMATCH = "RX_MEDID_MISMATCH"

_TERMINAL = frozenset({"CANCELED", "REFUNDED", "REJECTED"})


@dataclass(frozen=True)
class GateFacts:
    order: Order
    invoice_status: str  # OPEN | PAID | VOID | REFUNDED
    products: Mapping[str, Product | None]  # the current catalog entry of every line's product
    # A clinic-cart order was routed when the clinic chose its pharmacy (domain.clinic.routing).
    clinic_route: ClinicRoute | Unroutable | None = None
    configured_partners: frozenset[str] = frozenset()  # partners we hold a client for


@dataclass(frozen=True)
class Release:
    checks_passed: tuple[str, ...]
    partner: str


@dataclass(frozen=True)
class Hold:
    checks_failed: tuple[str, ...]
    checks_passed: tuple[str, ...]


@dataclass(frozen=True)
class PharmacyLinePlan:
    product_code: str
    quantity: int
    sig: str


def expected_med_id(order: Order, line: OrderLine, product: Product | None) -> str | None:
    """The medId an RX_WRITTEN must name for this line (clinic carts fall back to the product id,
    as the clinic checkout writes its in-house prescription)."""
    if order.placed.source == "CLINIC_CART":
        # The same rule the clinic checkout used to write the in-house prescription.
        return rx_med_id(product) if product is not None else line.product_id
    return product.medical_review.med_id if product and product.medical_review else None


def rx_confirmed(order: Order, products: Mapping[str, Product | None]) -> bool:
    meds = [ln for ln in order.placed.lines if ln.kind == "medication"]
    return all(
        (mid := expected_med_id(order, ln, products.get(ln.product_id))) is not None
        and mid in order.rx_med_ids
        for ln in meds
    )


def rx_mismatch(order: Order, products: Mapping[str, Product | None]) -> bool:
    """A prescription was written, but not for this order's drug: flag for CS, never release."""
    return order.is_medication and bool(order.rx_med_ids) and not rx_confirmed(order, products)


def route(facts: GateFacts) -> tuple[str, list[PharmacyLinePlan]] | None:
    """The one partner every line goes to and what to ask it for; None when not routable."""
    order = facts.order
    if order.placed.source == "CLINIC_CART":
        found = facts.clinic_route
        if not isinstance(found, ClinicRoute) or found.partner not in facts.configured_partners:
            return None
        return found.partner, [PharmacyLinePlan(ln.product_code, ln.quantity, ln.sig) for ln in found.lines]
    partners, plans = set(), []
    for line in order.placed.lines:
        product = facts.products.get(line.product_id)
        mapping = product.pharmacy if product else None
        if mapping is None or not mapping.partner or not mapping.product_code:
            return None
        partners.add(mapping.partner)
        # The prescriber's directions travel with Beluga's prescription; the line points to it.
        plans.append(
            PharmacyLinePlan(
                mapping.product_code,
                line.quantity,
                line.sig or f"Per prescription {order.master_id or order.id}",
            )
        )
    if len(partners) != 1:
        return None  # one pharmacy order per ledger order: a mixed order cannot be routed as one
    partner = partners.pop()
    return (partner, plans) if partner in facts.configured_partners else None


def decide(facts: GateFacts) -> Release | Hold:
    order = facts.order
    results: dict[str, bool] = {
        INVOICE_PAID: facts.invoice_status == "PAID" and order.paid,
        ORDER_OPEN: order_status(order) not in _TERMINAL,
        INTAKE_COMPLETE: not order.requires_intake or order.intake_status == "accepted",
        LAB_COMPLETE: (not needs_lab(order, "requisition") or order.lab_requisition)
        and (not needs_lab(order, "results") or order.lab_results),
        MEDICAL_REVIEW_COMPLETE: not needs_medical_review(order)
        or (bool(order.rx_med_ids) and order.medical_review_status != "canceled"),
        RX_CONFIRMED: not order.is_medication or rx_confirmed(order, facts.products),
        PHARMACY_CONFIGURED: route(facts) is not None,
    }
    passed = tuple(c for c in CHECKS if results[c])
    failed = tuple(c for c in CHECKS if not results[c])
    if failed:
        if rx_mismatch(order, facts.products):
            failed = (*failed, RX_MEDID_MISMATCH)
        return Hold(failed, passed)
    routed = route(facts)
    assert routed is not None
    return Release(passed, routed[0])


def facts_to_record(facts: GateFacts) -> list[Fact]:
    """What the gate appends now: a release once; a hold only for a paid, open, unreleased order
    and only when the failing checks changed (re-evaluating must not spam the stream)."""
    order = facts.order
    if order.fulfillment_released:
        return []
    decision = decide(facts)
    if isinstance(decision, Release):
        return [FulfillmentReleased(partner=decision.partner, passed_checks=decision.checks_passed)]
    if not order.paid or order_status(order) in _TERMINAL or decision.checks_failed == order.held_by:
        return []
    return [FulfillmentHeld(failed_checks=decision.checks_failed, passed_checks=decision.checks_passed)]
