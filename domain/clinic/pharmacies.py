"""503A partner pharmacies: the states they may ship to, and what they compound at what price.

An offering is one product (a SKU at one strength) at one pharmacy: its per-vial price, its
per-vial fees, its turnaround and the stock the pharmacy last reported. Shipping is charged by
the pharmacy per shipment; one cart line ships to one patient, so it is shared by that line's vials.
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
    shipping_cents: int  # per shipment, i.e. per cart line
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


class PharmacyStockReported(PharmacyFact):
    TYPE = "PharmacyStockReported"
    product_id: str
    on_hand: int


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


@dataclass(frozen=True)
class Pharmacy:
    id: str
    name: str
    partner: str
    licensed_states: frozenset[str]
    shipping_cents: int
    currency: str
    offerings: Mapping[str, Offering] = field(default_factory=dict)

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
        )
        return replace(state, offerings={**state.offerings, fact.product_id: offering})
    if isinstance(fact, PharmacyStockReported):
        current = state.offerings.get(fact.product_id)
        if current is None:
            return state  # stock for something it does not offer here: nothing to show
        return replace(
            state, offerings={**state.offerings, fact.product_id: replace(current, on_hand=fact.on_hand)}
        )
    return state
