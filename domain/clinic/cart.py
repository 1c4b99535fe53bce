"""The clinic cart: one refill day, many patients, one line per patient and product.

Adding the same product for the same patient again merges into that patient's line (quantities
add; the newer SIG, pharmacy and prescriber win, and the fact says it was a merge); the same
product for another patient is another line. Once checked out the cart is closed for edits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.errors import Conflict, InvalidCommand, NotFound
from domain.events import Fact, upcaster


class CartFact(Fact):
    AGGREGATE = "cart"


class CartOpened(CartFact):
    TYPE = "CartOpened"
    clinic_id: str


class CartLineAdded(CartFact):
    TYPE = "CartLineAdded"
    line_id: str
    patient_id: str
    product_id: str
    quantity: int
    pharmacy_id: str
    sig: str
    prescriber_id: str
    origin: str = "entry"  # entry | quickfill:<id> | reorder:<order id>


class CartLineChanged(CartFact):
    TYPE = "CartLineChanged"
    line_id: str
    quantity: int
    pharmacy_id: str
    sig: str
    prescriber_id: str
    merged: bool = False  # True: the same patient and product was added again


class CartLineRemoved(CartFact):
    TYPE = "CartLineRemoved"
    line_id: str


ProblemFact = str | int | list[str]


class LineProblem(BaseModel):
    """One problem validation found, on its line (None: the cart as a whole, e.g. empty).

    Typed: `code` and the `facts` its words need (names, a state, vial counts, the SIG's missing
    parts); `api/clinic/words.py` says it. `detail` is the sentence events recorded before version 2
    carried; nothing writes it any more."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    line_id: str | None
    code: str
    facts: dict[str, ProblemFact] = Field(default_factory=dict)
    detail: str | None = None


class CartValidated(CartFact):
    TYPE = "CartValidated"
    VERSION = 2  # problems carry typed facts, no longer a sentence
    ok: bool
    problems: tuple[LineProblem, ...]
    line_count: int
    total_cents: int


@upcaster("CartValidated", 1)
def _problems_typed(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 worded each problem; its sentence stays as `detail`, with no facts beside it."""
    return {**data, "problems": [{**p, "facts": {}} for p in data.get("problems", [])]}


class CartCheckedOut(CartFact):
    TYPE = "CartCheckedOut"
    invoice_id: str
    order_ids: tuple[str, ...]  # in line order
    line_ids: tuple[str, ...]
    total_cents: int
    currency: str


@dataclass(frozen=True)
class CartLine:
    id: str
    patient_id: str
    product_id: str
    quantity: int
    pharmacy_id: str
    sig: str
    prescriber_id: str
    origin: str = "entry"


@dataclass(frozen=True)
class LineDraft:
    """A line as a command proposes it, before it is merged into the cart."""

    patient_id: str
    product_id: str
    quantity: int
    pharmacy_id: str
    sig: str
    prescriber_id: str
    origin: str = "entry"


@dataclass(frozen=True)
class Cart:
    id: str
    clinic_id: str
    lines: Mapping[str, CartLine] = field(default_factory=dict)  # insertion order is line order
    last_validation: CartValidated | None = None  # cleared by any edit: it describes older lines
    checked_out: CartCheckedOut | None = None

    def line_for(self, patient_id: str, product_id: str) -> CartLine | None:
        return next(
            (ln for ln in self.lines.values() if ln.patient_id == patient_id and ln.product_id == product_id),
            None,
        )


def evolve_cart(state: Cart | None, fact: Fact, aggregate_id: str) -> Cart:
    if isinstance(fact, CartOpened):
        return Cart(id=aggregate_id, clinic_id=fact.clinic_id)
    assert state is not None, f"{fact.TYPE} before CartOpened"
    match fact:
        case CartLineAdded():
            line = CartLine(
                fact.line_id,
                fact.patient_id,
                fact.product_id,
                fact.quantity,
                fact.pharmacy_id,
                fact.sig,
                fact.prescriber_id,
                fact.origin,
            )
            return replace(state, lines={**state.lines, line.id: line}, last_validation=None)
        case CartLineChanged():
            changed = replace(
                state.lines[fact.line_id],
                quantity=fact.quantity,
                pharmacy_id=fact.pharmacy_id,
                sig=fact.sig,
                prescriber_id=fact.prescriber_id,
            )
            return replace(state, lines={**state.lines, fact.line_id: changed}, last_validation=None)
        case CartLineRemoved():
            rest = {k: v for k, v in state.lines.items() if k != fact.line_id}
            return replace(state, lines=rest, last_validation=None)
        case CartValidated():
            return replace(state, last_validation=fact)
        case CartCheckedOut():
            return replace(state, checked_out=fact)
    return state


def _open(cart: Cart) -> None:
    if cart.checked_out is not None:
        raise Conflict(reasons=("CART_CHECKED_OUT",))


def _quantity(quantity: int) -> int:
    if quantity < 1:
        raise InvalidCommand(field="quantity", rule="QUANTITY_BELOW_ONE")
    return quantity


def add_line(cart: Cart, draft: LineDraft, new_line_id: str) -> CartLineAdded | CartLineChanged:
    _open(cart)
    _quantity(draft.quantity)
    same = cart.line_for(draft.patient_id, draft.product_id)
    if same is not None:
        return CartLineChanged(
            line_id=same.id,
            quantity=same.quantity + draft.quantity,
            pharmacy_id=draft.pharmacy_id,
            sig=draft.sig,
            prescriber_id=draft.prescriber_id,
            merged=True,
        )
    return CartLineAdded(
        line_id=new_line_id,
        patient_id=draft.patient_id,
        product_id=draft.product_id,
        quantity=draft.quantity,
        pharmacy_id=draft.pharmacy_id,
        sig=draft.sig,
        prescriber_id=draft.prescriber_id,
        origin=draft.origin,
    )


@dataclass(frozen=True)
class Merge:
    """A draft that went into an existing line instead of a new one: what it changed, to report it."""

    line_id: str
    quantity_before: int
    quantity_after: int
    pharmacy_before: str
    pharmacy_after: str
    sig_changed: bool
    prescriber_changed: bool

    @property
    def pharmacy_changed(self) -> bool:
        return self.pharmacy_before != self.pharmacy_after


def merge_of(before: Cart, fact: Fact) -> Merge | None:
    """The merge an `add_line` fact made to `before` (None: it added a new line)."""
    if not isinstance(fact, CartLineChanged) or not fact.merged:
        return None
    old = before.lines[fact.line_id]
    return Merge(
        fact.line_id,
        old.quantity,
        fact.quantity,
        old.pharmacy_id,
        fact.pharmacy_id,
        old.sig != fact.sig,
        old.prescriber_id != fact.prescriber_id,
    )


def change_line(
    cart: Cart,
    line_id: str,
    *,
    quantity: int | None = None,
    pharmacy_id: str | None = None,
    sig: str | None = None,
    prescriber_id: str | None = None,
) -> list[Fact]:
    _open(cart)
    line = existing_line(cart, line_id)
    new = replace(
        line,
        quantity=line.quantity if quantity is None else _quantity(quantity),
        pharmacy_id=pharmacy_id or line.pharmacy_id,
        sig=line.sig if sig is None else sig,
        prescriber_id=prescriber_id or line.prescriber_id,
    )
    if new == line:
        return []
    return [
        CartLineChanged(
            line_id=line_id,
            quantity=new.quantity,
            pharmacy_id=new.pharmacy_id,
            sig=new.sig,
            prescriber_id=new.prescriber_id,
        )
    ]


def remove_line(cart: Cart, line_id: str) -> CartLineRemoved:
    _open(cart)
    existing_line(cart, line_id)
    return CartLineRemoved(line_id=line_id)


def existing_line(cart: Cart, line_id: str) -> CartLine:
    line = cart.lines.get(line_id)
    if line is None:
        raise NotFound(rule="CART_LINE_NOT_FOUND")
    return line
