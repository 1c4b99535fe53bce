"""Which pharmacy for this line: every partner that can fill it, cheapest or fastest first.

A partner that cannot fill it is not silently dropped: it comes back as `Unfit` with every reason
(typed codes; the API words them): product not carried or no longer offered, not licensed in the
patient's state, not enough vials.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from domain.clinic.pharmacies import Offering, Pharmacy
from domain.clinic.pricing import LandedCost, alone_in_shipment

RankBy = Literal["cost", "turnaround"]
UnfitReason = Literal[
    "PRODUCT_NOT_AT_PHARMACY", "PRODUCT_INACTIVE", "PHARMACY_NOT_LICENSED_IN_STATE", "OUT_OF_STOCK"
]


@dataclass(frozen=True)
class PharmacyOption:
    pharmacy: Pharmacy
    offering: Offering
    landed: LandedCost


@dataclass(frozen=True)
class Unfit:
    pharmacy: Pharmacy
    offering: Offering | None
    reasons: tuple[UnfitReason, ...]


def unfit_reasons(
    pharmacy: Pharmacy, product_id: str, patient_state: str | None, quantity: int
) -> tuple[UnfitReason, ...]:
    reasons: list[UnfitReason] = []
    offering = pharmacy.offering(product_id)
    if offering is None:
        reasons.append("PRODUCT_NOT_AT_PHARMACY")
    elif not offering.active:
        reasons.append("PRODUCT_INACTIVE")
    if patient_state is not None and patient_state not in pharmacy.licensed_states:
        reasons.append("PHARMACY_NOT_LICENSED_IN_STATE")
    if offering is not None and offering.on_hand < quantity:
        reasons.append("OUT_OF_STOCK")
    return tuple(reasons)


def pharmacy_options(
    pharmacies: Iterable[Pharmacy], product_id: str, patient_state: str | None, quantity: int, by: RankBy
) -> tuple[list[PharmacyOption], list[Unfit]]:
    """Pharmacies that offer the product, may ship to the patient and hold the vials, ranked; and
    the others with why (by name).

    Ties fall back on the other measure, then on the name, so the suggestion is stable.
    """
    options, unfit = [], []
    for pharmacy in pharmacies:
        offering = pharmacy.offering(product_id)
        reasons = unfit_reasons(pharmacy, product_id, patient_state, quantity)
        if reasons or offering is None:
            unfit.append(Unfit(pharmacy, offering, reasons))
            continue
        options.append(PharmacyOption(pharmacy, offering, alone_in_shipment(pharmacy, offering, quantity)))

    def cost(o: PharmacyOption) -> tuple[int, int, str]:
        return (o.landed.line_total_cents, o.offering.turnaround_days, o.pharmacy.name)

    def speed(o: PharmacyOption) -> tuple[int, int, str]:
        return (o.offering.turnaround_days, o.landed.line_total_cents, o.pharmacy.name)

    return sorted(options, key=cost if by == "cost" else speed), sorted(unfit, key=lambda u: u.pharmacy.name)
