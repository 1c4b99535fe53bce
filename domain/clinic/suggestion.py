"""Which pharmacy for this line: every partner that can fill it, cheapest or fastest first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from domain.clinic.pharmacies import Offering, Pharmacy
from domain.clinic.pricing import LandedCost, landed_cost

RankBy = Literal["cost", "turnaround"]


@dataclass(frozen=True)
class PharmacyOption:
    pharmacy: Pharmacy
    offering: Offering
    landed: LandedCost


def pharmacy_options(
    pharmacies: Iterable[Pharmacy], product_id: str, patient_state: str | None, quantity: int, by: RankBy
) -> list[PharmacyOption]:
    """Pharmacies that offer the product, may ship to the patient and hold the vials, ranked.

    Ties fall back on the other measure, then on the name, so the suggestion is stable.
    """
    options = []
    for pharmacy in pharmacies:
        offering = pharmacy.offering(product_id)
        if offering is None or not offering.active or offering.on_hand < quantity:
            continue
        if patient_state is not None and patient_state not in pharmacy.licensed_states:
            continue
        options.append(PharmacyOption(pharmacy, offering, landed_cost(pharmacy, offering, quantity)))

    def cost(o: PharmacyOption) -> tuple[int, int, str]:
        return (o.landed.landed_unit_cents, o.offering.turnaround_days, o.pharmacy.name)

    def speed(o: PharmacyOption) -> tuple[int, int, str]:
        return (o.offering.turnaround_days, o.landed.landed_unit_cents, o.pharmacy.name)

    return sorted(options, key=cost if by == "cost" else speed)
