"""Landed per-vial cost: what one vial really costs the clinic once fees and shipping are in.

landed = vial price + per-vial fees + shipping share, where the shipping share is the line's
shipment cost divided by its vials, rounded *up* to the cent. Rounding up means the price shown
per vial is never below what the clinic pays, and the line total is always landed * quantity, so
every line, the cart total, the invoice and the charge agree to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.clinic.pharmacies import Offering, Pharmacy


@dataclass(frozen=True)
class LandedCost:
    vial_price_cents: int
    fee_cents: int
    shipping_share_cents: int
    landed_unit_cents: int
    quantity: int
    line_total_cents: int


def landed_cost(pharmacy: Pharmacy, offering: Offering, quantity: int) -> LandedCost:
    assert quantity >= 1, "a cart line holds at least one vial"
    share = -(-pharmacy.shipping_cents // quantity)  # ceiling division in integers
    unit = offering.vial_price_cents + offering.fee_cents + share
    return LandedCost(offering.vial_price_cents, offering.fee_cents, share, unit, quantity, unit * quantity)
