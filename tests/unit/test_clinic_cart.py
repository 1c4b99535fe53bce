"""The cart's decisions: merge by patient and product, separate lines per patient, closed once paid."""

from __future__ import annotations

import pytest

from domain.clinic.cart import (
    Cart,
    CartCheckedOut,
    CartLineAdded,
    CartLineChanged,
    CartOpened,
    CartValidated,
    LineDraft,
    add_line,
    change_line,
    evolve_cart,
    remove_line,
)
from domain.errors import Conflict, InvalidCommand, NotFound
from domain.events import Fact


def given(*facts: Fact) -> Cart:
    cart = evolve_cart(None, CartOpened(clinic_id="c1"), "cart-1")
    for fact in facts:
        cart = evolve_cart(cart, fact, "cart-1")
    return cart


def added(line_id: str, patient: str, product: str, qty: int = 1) -> CartLineAdded:
    return CartLineAdded(
        line_id=line_id,
        patient_id=patient,
        product_id=product,
        quantity=qty,
        pharmacy_id="ph1",
        sig="old sig",
        prescriber_id="dr1",
    )


def draft(patient: str, product: str, qty: int = 1) -> LineDraft:
    return LineDraft(patient, product, qty, "ph2", "new sig", "dr2")


def test_same_patient_and_product_merges_into_the_existing_line() -> None:
    cart = given(added("L1", "p1", "sema", 2))
    fact = add_line(cart, draft("p1", "sema", 3), "L2")
    assert fact == CartLineChanged(
        line_id="L1", quantity=5, pharmacy_id="ph2", sig="new sig", prescriber_id="dr2", merged=True
    )


def test_same_product_for_another_patient_is_another_line() -> None:
    cart = given(added("L1", "p1", "sema"))
    fact = add_line(cart, draft("p2", "sema"), "L2")
    assert isinstance(fact, CartLineAdded)
    assert fact.line_id == "L2"
    assert len(evolve_cart(cart, fact, cart.id).lines) == 2


def test_an_edit_clears_the_last_validation() -> None:
    cart = given(added("L1", "p1", "sema"), CartValidated(ok=True, problems=(), line_count=1, total_cents=1))
    assert cart.last_validation is not None
    (fact,) = change_line(cart, "L1", quantity=4)
    assert evolve_cart(cart, fact, cart.id).last_validation is None


def test_an_edit_that_changes_nothing_records_nothing() -> None:
    assert change_line(given(added("L1", "p1", "sema", 2)), "L1", quantity=2) == []


def test_quantity_below_one_is_refused() -> None:
    with pytest.raises(InvalidCommand):
        add_line(given(), draft("p1", "sema", 0), "L1")


def test_unknown_line_is_not_found() -> None:
    with pytest.raises(NotFound):
        remove_line(given(), "nope")


def test_a_checked_out_cart_takes_no_more_edits() -> None:
    done = CartCheckedOut(
        invoice_id="i1", order_ids=("o1",), line_ids=("L1",), total_cents=100, currency="usd"
    )
    cart = given(added("L1", "p1", "sema"), done)
    with pytest.raises(Conflict) as refused:
        add_line(cart, draft("p2", "sema"), "L2")
    assert refused.value.reasons == ("CART_CHECKED_OUT",)
