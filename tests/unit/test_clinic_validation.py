"""Whole-cart validation, landed cost and the checkout decision, over pure functions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from domain.catalog import Product
from domain.clinic.cart import Cart, CartLine
from domain.clinic.checkout import CheckoutIds, plan_checkout
from domain.clinic.directory import Prescriber
from domain.clinic.pharmacies import Offering, Pharmacy
from domain.clinic.pricing import landed_cost
from domain.clinic.suggestion import pharmacy_options
from domain.clinic.validation import CartNotValid, CartWorld, validate_cart
from domain.orders import Order
from domain.status import order_status

NOW = datetime(2026, 6, 1, tzinfo=UTC)
GOOD_SIG = "Inject 10 units subcutaneously once weekly"


def product(pid: str = "sema", active: bool = True) -> Product:
    return Product(
        id=pid,
        sku=pid.upper(),
        name=pid.title(),
        price_cents=0,
        currency="usd",
        active=active,
        kind="medication",
        requires_intake=True,
        lab=None,
        medical_review=None,
        pharmacy=None,
    )


def pharmacy(
    pid: str = "ph1",
    *,
    on_hand: int = 10,
    shipping: int = 1500,
    states: str = "TX CA",
    price: int = 4500,
    fee: int = 350,
    days: int = 5,
    active: bool = True,
) -> Pharmacy:
    offer = Offering("sema", "2.5 mg/mL", price, fee, days, active, on_hand)
    return Pharmacy(pid, pid.title(), "belmar", frozenset(states.split()), shipping, "usd", {"sema": offer})


WORLD = CartWorld(
    patient_states={"p-tx": "TX", "p-ca": "CA"},
    prescribers={"dr-tx": Prescriber("dr-tx", "c1", "Dr Tex", "1234567893", frozenset({"TX"}))},
    products={"sema": product()},
    pharmacies={"ph1": pharmacy()},
)


def cart(*lines: tuple[str, str, int, str]) -> Cart:
    """Lines as (patient, sig, quantity, pharmacy), prescribed by Dr Tex."""
    built = {
        f"L{i}": CartLine(f"L{i}", p, "sema", q, ph, sig, "dr-tx") for i, (p, sig, q, ph) in enumerate(lines)
    }
    return Cart("cart-1", "c1", built)


def codes(c: Cart, world: CartWorld = WORLD) -> list[tuple[str | None, str]]:
    return [(p.line_id, p.code) for p in validate_cart(c, world)]


def test_a_clean_cart_has_no_problems() -> None:
    assert codes(cart(("p-tx", GOOD_SIG, 2, "ph1"))) == []


def test_every_problem_is_reported_on_its_own_line_in_one_pass() -> None:
    given = cart(
        ("p-tx", GOOD_SIG, 1, "ph1"), ("p-tx", "Use as directed", 1, "ph1"), ("p-ca", GOOD_SIG, 1, "ph1")
    )
    assert codes(given) == [("L1", "SIG_INCOMPLETE"), ("L2", "PRESCRIBER_NOT_LICENSED_IN_STATE")]


def test_stock_is_checked_against_the_whole_carts_demand_in_line_order() -> None:
    world = CartWorld(WORLD.patient_states, WORLD.prescribers, WORLD.products, {"ph1": pharmacy(on_hand=5)})
    given = cart(("p-tx", GOOD_SIG, 2, "ph1"), ("p-tx", GOOD_SIG, 2, "ph1"), ("p-tx", GOOD_SIG, 2, "ph1"))
    assert codes(given, world) == [("L2", "OUT_OF_STOCK")]


def test_inactive_product_unknown_patient_and_unlicensed_pharmacy_are_named() -> None:
    world = CartWorld(
        {"p-ny": "NY", **WORLD.patient_states},
        WORLD.prescribers,
        {"sema": product(active=False)},
        WORLD.pharmacies,
    )
    given = cart(("p-ny", GOOD_SIG, 1, "ph1"), ("p-gone", GOOD_SIG, 1, "ph1"))
    assert codes(given, world) == [
        ("L0", "PRODUCT_INACTIVE"),
        ("L0", "PHARMACY_NOT_LICENSED_IN_STATE"),
        ("L0", "PRESCRIBER_NOT_LICENSED_IN_STATE"),
        ("L1", "PATIENT_UNKNOWN"),
        ("L1", "PRODUCT_INACTIVE"),
    ]


def test_an_empty_cart_cannot_be_checked_out() -> None:
    assert codes(cart()) == [(None, "CART_EMPTY")]


def test_landed_cost_shares_shipping_across_the_lines_vials_rounding_up() -> None:
    ph = pharmacy(shipping=1000)
    cost = landed_cost(ph, ph.offerings["sema"], 3)
    # 1000 / 3 = 333.33 → 334 cents a vial: the shown price never understates what is paid
    assert (cost.shipping_share_cents, cost.landed_unit_cents, cost.line_total_cents) == (334, 5184, 15552)


def test_checkout_plan_places_one_order_per_line_and_one_invoice_for_the_total() -> None:
    given = cart(("p-tx", GOOD_SIG, 2, "ph1"), ("p-tx", GOOD_SIG.replace("10", "20"), 1, "ph1"))
    plan = plan_checkout(given, WORLD, CheckoutIds("inv", ("o1", "o2"), ("R-1", "R-2")), NOW)
    # 2 vials: 4500 + 350 + 750 = 5600 each; 1 vial: 4500 + 350 + 1500 = 6350
    assert [o.placed.lines[0].unit_price_cents for o in plan.orders] == [5600, 6350]
    assert plan.invoice.amount_cents == plan.checked_out.total_cents == 2 * 5600 + 6350
    assert plan.invoice.order_ids == ("o1", "o2")
    assert plan.invoice.clinic_id == "c1"
    sources = {(o.placed.source, o.placed.source_context) for o in plan.orders}
    assert sources == {("CLINIC_CART", "CLINIC_ORDER")}
    assert plan.orders[0].rx.master_id == "clinic:1234567893"


def test_a_placed_clinic_order_waits_for_payment_not_for_a_script() -> None:
    plan = plan_checkout(cart(("p-tx", GOOD_SIG, 1, "ph1")), WORLD, CheckoutIds("i", ("o1",), ("R-1",)), NOW)
    order = Order(id="o1", placed=plan.orders[0].placed, rx_med_ids=plan.orders[0].rx.med_ids)
    assert order_status(order) == "PENDING_PAYMENT"
    assert order_status(replace(order, charged_at=NOW)) == "AWAITING_FULFILLMENT"


def test_checkout_of_an_invalid_cart_is_refused_with_its_problems() -> None:
    with pytest.raises(CartNotValid) as refused:
        plan_checkout(
            cart(("p-tx", "Use as directed", 1, "ph1")), WORLD, CheckoutIds("i", ("o",), ("R",)), NOW
        )
    assert [p.code for p in refused.value.problems] == ["SIG_INCOMPLETE"]


def test_pharmacy_options_rank_by_cost_or_turnaround_and_skip_those_that_cannot_fill() -> None:
    cheap_slow = pharmacy("cheap", price=4000, days=7)
    dear_fast = pharmacy("fast", price=6000, days=1)
    empty = pharmacy("empty", on_hand=0, price=1)
    far = pharmacy("far", states="NY", price=1)
    everyone = [dear_fast, cheap_slow, empty, far]
    by_cost = pharmacy_options(everyone, "sema", "TX", 1, "cost")
    by_speed = pharmacy_options(everyone, "sema", "TX", 1, "turnaround")
    assert [o.pharmacy.id for o in by_cost] == ["cheap", "fast"]
    assert [o.pharmacy.id for o in by_speed] == ["fast", "cheap"]
