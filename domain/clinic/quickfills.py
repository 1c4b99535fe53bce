"""Quickfills: a clinic's saved line templates (product, quantity, pharmacy, SIG, prescriber).

Applied to a cart for one or many patients, each becomes an ordinary line, merged by the cart's
usual rule; editing the template later never changes lines already in a cart.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.clinic.cart import LineDraft
from domain.events import Fact


class QuickfillSaved(Fact):
    TYPE = "QuickfillSaved"
    AGGREGATE = "quickfill"
    clinic_id: str
    name: str
    product_id: str
    quantity: int
    pharmacy_id: str
    sig: str
    prescriber_id: str


@dataclass(frozen=True)
class Quickfill:
    id: str
    clinic_id: str
    name: str
    product_id: str
    quantity: int
    pharmacy_id: str
    sig: str
    prescriber_id: str

    def draft_for(self, patient_id: str) -> LineDraft:
        return LineDraft(
            patient_id,
            self.product_id,
            self.quantity,
            self.pharmacy_id,
            self.sig,
            self.prescriber_id,
            origin=f"quickfill:{self.id}",
        )


def evolve_quickfill(state: Quickfill | None, fact: Fact, aggregate_id: str) -> Quickfill:
    assert isinstance(fact, QuickfillSaved)
    return Quickfill(
        aggregate_id,
        fact.clinic_id,
        fact.name,
        fact.product_id,
        fact.quantity,
        fact.pharmacy_id,
        fact.sig,
        fact.prescriber_id,
    )
