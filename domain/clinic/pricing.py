"""Landed cost: what the clinic really pays once fees and its share of shipping are in.

A pharmacy charges one shipping fee per *shipment*: one patient, one pharmacy, one checkout. That
fee is shared across the shipment's lines in proportion to their vials, to the cent, by the largest
remainder method: every line gets the floor of its exact share, and the cents left over go to the
lines with the largest fractional parts (ties: line order). The shares add up to the fee exactly —
never a cent more — so what each line shows before payment is what the invoice charges.

A line's total is exact: (vial price + per-vial fees) x vials + its shipping share. The per-vial
landed cost shown beside it is that total divided by the vials, rounded down (never up).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from domain.clinic.pharmacies import Offering, Pharmacy


@dataclass(frozen=True)
class LandedCost:
    vial_price_cents: int
    fee_cents: int  # per vial
    shipping_share_cents: int  # this line's share of its shipment's one fee (whole line, not per vial)
    quantity: int
    line_total_cents: int

    @property
    def landed_unit_cents(self) -> int:
        """Per-vial landed cost for display: the exact line total over its vials, rounded down."""
        return self.line_total_cents // self.quantity

    @property
    def vial_cents(self) -> int:
        """Price + fees of one vial, before shipping: an order line's unit price."""
        return self.vial_price_cents + self.fee_cents


@dataclass(frozen=True)
class PricedLine:
    """What pricing needs of a cart line: its shipment key and its vials."""

    line_id: str
    patient_id: str
    pharmacy_id: str
    quantity: int


def largest_remainder(total: int, weights: list[int]) -> list[int]:
    """Split `total` cents in proportion to `weights`; the parts are integers and add up to `total`."""
    assert total >= 0 and weights and all(w > 0 for w in weights)
    whole = sum(weights)
    floors = [total * w // whole for w in weights]
    left = total - sum(floors)
    # remainder of each exact share, as a numerator over `whole`; biggest first, then line order
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[:left]:
        floors[i] += 1
    return floors


def shipping_shares(lines: Iterable[PricedLine], pharmacies: Mapping[str, Pharmacy]) -> dict[str, int]:
    """Each line's share of its shipment's fee (by line id); lines of unknown pharmacies are left out."""
    shipments: dict[tuple[str, str], list[PricedLine]] = {}
    for line in lines:
        if line.pharmacy_id in pharmacies:
            shipments.setdefault((line.patient_id, line.pharmacy_id), []).append(line)
    shares: dict[str, int] = {}
    for (_, pharmacy_id), members in shipments.items():
        parts = largest_remainder(pharmacies[pharmacy_id].shipping_cents, [m.quantity for m in members])
        shares.update({m.line_id: part for m, part in zip(members, parts, strict=True)})
    return shares


def landed_cost(offering: Offering, quantity: int, shipping_share_cents: int) -> LandedCost:
    assert quantity >= 1, "a cart line holds at least one vial"
    total = (offering.vial_price_cents + offering.fee_cents) * quantity + shipping_share_cents
    return LandedCost(offering.vial_price_cents, offering.fee_cents, shipping_share_cents, quantity, total)


def alone_in_shipment(pharmacy: Pharmacy, offering: Offering, quantity: int) -> LandedCost:
    """The landed cost of `quantity` vials shipped on their own (the catalog's and suggestions' figure)."""
    return landed_cost(offering, quantity, pharmacy.shipping_cents)
