"""Whole-cart validation before payment: every problem, each on its line, in one pass.

Each problem is a code with the facts its words need (`api/clinic/words.py` says them).

Pure: the service hands in the cart and everything it refers to (patients' states, prescribers,
products, pharmacies); nothing is fetched here, so 500 lines validate in milliseconds.
Stock is checked against the cart's *total* demand per pharmacy and product, in line order: three
lines of 2 vials against 5 on hand means the third line is the one that cannot be filled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.catalog import Product
from domain.clinic.cart import Cart, CartLine, LineProblem, ProblemFact
from domain.clinic.directory import Prescriber
from domain.clinic.pharmacies import Pharmacy
from domain.clinic.sig import MAX_SIG_LENGTH, check_sig
from domain.errors import NotEligible

CODES = (
    "CART_EMPTY",
    "PATIENT_UNKNOWN",
    "PRODUCT_UNKNOWN",
    "PRODUCT_INACTIVE",
    "PHARMACY_UNKNOWN",
    "PRODUCT_NOT_AT_PHARMACY",
    "OUT_OF_STOCK",
    "PHARMACY_NOT_LICENSED_IN_STATE",
    "PRESCRIBER_UNKNOWN",
    "PRESCRIBER_NOT_LICENSED_IN_STATE",
    "PRESCRIBER_DEA_REQUIRED",
    "SIG_INCOMPLETE",
    "SIG_TOO_LONG",
)


@dataclass(frozen=True)
class CartWorld:
    """What the cart's lines refer to, as loaded for this validation (ids of other clinics left out)."""

    patient_states: Mapping[str, str]
    prescribers: Mapping[str, Prescriber]
    products: Mapping[str, Product]
    pharmacies: Mapping[str, Pharmacy]
    patient_names: Mapping[str, str] = field(default_factory=dict)  # for people, never for the rules


class CartNotValid(NotEligible):
    """Checkout refused: `problems` is the same list validation reports."""

    def __init__(self, problems: tuple[LineProblem, ...]) -> None:
        codes = tuple(dict.fromkeys(p.code for p in problems))
        super().__init__(rule="CART_NOT_VALID", reasons=codes, facts={"problems": len(problems)})
        self.problems = problems


Found = list[tuple[str, dict[str, ProblemFact]]]  # (code, the facts its words need)


def validate_cart(cart: Cart, world: CartWorld) -> tuple[LineProblem, ...]:
    if not cart.lines:
        return (LineProblem(line_id=None, code="CART_EMPTY"),)
    problems: list[LineProblem] = []
    demand: dict[tuple[str, str], int] = {}
    for line in cart.lines.values():
        problems.extend(
            LineProblem(line_id=line.id, code=code, facts=facts)
            for code, facts in _line_problems(line, world, demand)
        )
    return tuple(problems)


def _line_problems(line: CartLine, world: CartWorld, demand: dict[tuple[str, str], int]) -> Found:
    found: Found = []
    state = world.patient_states.get(line.patient_id)
    if state is None:
        found.append(("PATIENT_UNKNOWN", {}))
    product = world.products.get(line.product_id)
    if product is None:
        found.append(("PRODUCT_UNKNOWN", {}))
    elif not product.active:
        found.append(("PRODUCT_INACTIVE", {"sku": product.sku}))
    found.extend(_pharmacy_problems(line, world, state, demand))
    prescriber = world.prescribers.get(line.prescriber_id)
    if prescriber is None:
        found.append(("PRESCRIBER_UNKNOWN", {}))
    elif state is not None and state not in prescriber.licensed_states:
        found.append(
            (
                "PRESCRIBER_NOT_LICENSED_IN_STATE",
                {"prescriber": prescriber.name, "npi": prescriber.npi, "state": state},
            )
        )
    pharmacy = world.pharmacies.get(line.pharmacy_id)
    offering = pharmacy.offering(line.product_id) if pharmacy else None
    if prescriber is not None and offering is not None and offering.controlled and not prescriber.dea_number:
        found.append(
            ("PRESCRIBER_DEA_REQUIRED", {"strength": offering.strength, "prescriber": prescriber.name})
        )
    sig = check_sig(line.sig)
    if not sig.complete:
        found.append(("SIG_INCOMPLETE", {"missing": list(sig.missing), "as_directed": int(sig.as_directed)}))
    if sig.too_long:
        found.append(("SIG_TOO_LONG", {"length": len(line.sig), "limit": MAX_SIG_LENGTH}))
    return found


def _pharmacy_problems(
    line: CartLine, world: CartWorld, state: str | None, demand: dict[tuple[str, str], int]
) -> Found:
    pharmacy = world.pharmacies.get(line.pharmacy_id)
    if pharmacy is None:
        return [("PHARMACY_UNKNOWN", {})]
    found: Found = []
    if state is not None and state not in pharmacy.licensed_states:
        found.append(("PHARMACY_NOT_LICENSED_IN_STATE", {"pharmacy": pharmacy.name, "state": state}))
    offering = pharmacy.offering(line.product_id)
    if offering is None:
        return [*found, ("PRODUCT_NOT_AT_PHARMACY", {"pharmacy": pharmacy.name})]
    if not offering.active:
        # The same code as an inactive catalog product; `pharmacy` (not `sku`) says which refused it.
        found.append(("PRODUCT_INACTIVE", {"pharmacy": pharmacy.name}))
    key = (line.pharmacy_id, line.product_id)
    before = demand.get(key, 0)
    demand[key] = before + line.quantity
    if demand[key] > offering.on_hand:
        left = max(offering.on_hand - before, 0)
        found.append(
            (
                "OUT_OF_STOCK",
                {
                    "pharmacy": pharmacy.name,
                    "left": left,
                    "strength": offering.strength,
                    "needed": line.quantity,
                },
            )
        )
    return found
