"""503A partner pharmacies: the states they may ship to, and what they compound at what price.

An offering is one product (a SKU at one strength) at one pharmacy: its per-vial price, its
per-vial fees, its turnaround and the stock available. Shipping is charged by the pharmacy per
shipment (one patient x pharmacy x checkout; see `domain.clinic.pricing`).

Stock: the pharmacy reports what it holds; a checkout reserves its lines' vials on the pharmacy's
stream (appended at the version it validated against, so two checkouts racing for the last vials
cannot both succeed), and a cancel or a pharmacy rejection releases them. `on_hand` is what is
left to sell: the last report less the reservations made since.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from domain.events import Fact


class PharmacyFact(Fact):
    AGGREGATE = "pharmacy"


class PharmacyRegistered(PharmacyFact):
    TYPE = "PharmacyRegistered"
    name: str
    partner: str  # the adapter that submits orders to it (e.g. "belmar", "dispensepro")
    licensed_states: tuple[str, ...]  # where it may ship compounded medication
    shipping_cents: int  # per shipment: one patient x this pharmacy x one checkout
    currency: str


class PharmacyOfferingSet(PharmacyFact):
    TYPE = "PharmacyOfferingSet"
    product_id: str
    strength: str
    vial_price_cents: int
    fee_cents: int  # per vial: compounding / dispensing fees the pharmacy passes through
    turnaround_days: int
    active: bool = True
    # The pharmacy's own code for it (LifeFile productCode / DispensePro ndc_or_code); None: the
    # catalog's pharmacy mapping code, else the SKU (see `domain.clinic.routing`).
    product_code: str | None = None
    controlled: bool = False  # a scheduled substance: the prescriber's DEA number must travel


class PharmacyStockReported(PharmacyFact):
    TYPE = "PharmacyStockReported"
    product_id: str
    on_hand: int


class PharmacyStockReserved(PharmacyFact):
    TYPE = "PharmacyStockReserved"
    product_id: str
    quantity: int
    order_id: str


class PharmacyStockReleased(PharmacyFact):
    """A reservation given back (its order was canceled or rejected by the pharmacy)."""

    TYPE = "PharmacyStockReleased"
    product_id: str
    quantity: int
    order_id: str
    reason: str


@dataclass(frozen=True)
class Offering:
    product_id: str
    strength: str
    vial_price_cents: int
    fee_cents: int
    turnaround_days: int
    active: bool
    on_hand: int = 0
    product_code: str | None = None
    controlled: bool = False


@dataclass(frozen=True)
class Pharmacy:
    id: str
    name: str
    partner: str
    licensed_states: frozenset[str]
    shipping_cents: int
    currency: str
    offerings: Mapping[str, Offering] = field(default_factory=dict)
    reservations: frozenset[str] = frozenset()  # order ids holding vials here now

    def offering(self, product_id: str) -> Offering | None:
        return self.offerings.get(product_id)


def evolve_pharmacy(state: Pharmacy | None, fact: Fact, aggregate_id: str) -> Pharmacy:
    if isinstance(fact, PharmacyRegistered):
        return Pharmacy(
            aggregate_id,
            fact.name,
            fact.partner,
            frozenset(fact.licensed_states),
            fact.shipping_cents,
            fact.currency,
        )
    assert state is not None, f"{fact.TYPE} before PharmacyRegistered"
    if isinstance(fact, PharmacyOfferingSet):
        known = state.offerings.get(fact.product_id)
        offering = Offering(
            fact.product_id,
            fact.strength,
            fact.vial_price_cents,
            fact.fee_cents,
            fact.turnaround_days,
            fact.active,
            known.on_hand if known else 0,
            fact.product_code,
            fact.controlled,
        )
        return replace(state, offerings={**state.offerings, fact.product_id: offering})
    if isinstance(fact, PharmacyStockReported):
        current = state.offerings.get(fact.product_id)
        if current is None:
            return state  # stock for something it does not offer here: nothing to show
        return replace(
            state, offerings={**state.offerings, fact.product_id: replace(current, on_hand=fact.on_hand)}
        )
    if isinstance(fact, PharmacyStockReserved | PharmacyStockReleased):
        reserving = isinstance(fact, PharmacyStockReserved)
        current = state.offerings.get(fact.product_id)
        if current is None or (fact.order_id in state.reservations) == reserving:
            return state  # nothing held here, or already reserved / released
        delta = -fact.quantity if reserving else fact.quantity
        held = state.reservations | {fact.order_id} if reserving else state.reservations - {fact.order_id}
        offering = replace(current, on_hand=current.on_hand + delta)
        return replace(state, offerings={**state.offerings, fact.product_id: offering}, reservations=held)
    return state


def release_stock(
    pharmacy: Pharmacy, order_id: str, product_id: str, quantity: int, reason: str
) -> list[Fact]:
    """Give an order's vials back, once: nothing when it holds none here."""
    if order_id not in pharmacy.reservations:
        return []
    return [PharmacyStockReleased(product_id=product_id, quantity=quantity, order_id=order_id, reason=reason)]
