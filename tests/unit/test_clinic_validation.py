"""Whole-cart validation, landed cost and the checkout decision, over pure functions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from domain.catalog import Product
from domain.clinic.cart import Cart, CartLine
from domain.clinic.checkout import CheckoutIds, order_name, plan_checkout
from domain.clinic.directory import Prescriber
from domain.clinic.pharmacies import Offering, Pharmacy, PharmacyStockReserved, evolve_pharmacy, release_stock
from domain.clinic.pricing import PricedLine, landed_cost, largest_remainder, shipping_shares
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


def test_one_line_alone_in_its_shipment_pays_the_fee_exactly_never_rounded_up() -> None:
    ph = pharmacy(shipping=1500)
    cost = landed_cost(
        ph.offerings["sema"], 8, shipping_shares([PricedLine("L", "p", "ph1", 8)], {"ph1": ph})["L"]
    )
    # the case: 8 vials used to pay 8 x ceil(1500 / 8) = 1504 cents of shipping
    assert cost.shipping_share_cents == 1500
    assert cost.line_total_cents == 8 * (4500 + 350) + 1500
    assert cost.landed_unit_cents == (8 * 4850 + 1500) // 8  # shown per vial: rounded down


def test_largest_remainder_splits_to_the_cent_and_adds_up_to_the_whole() -> None:
    assert largest_remainder(1000, [1, 1, 1]) == [334, 333, 333]
    assert largest_remainder(1499, [2, 1]) == [999, 500]  # 999.33 / 499.67: the larger remainder wins
    assert largest_remainder(1, [1, 5]) == [0, 1]
    for total, weights in [(1501, [3, 3, 1]), (7, [2, 2, 2, 1]), (0, [4]), (99_999, [7, 11, 13])]:
        parts = largest_remainder(total, weights)
        assert sum(parts) == total
        assert all(abs(p - total * w / sum(weights)) < 1 for p, w in zip(parts, weights, strict=True))


def test_one_fee_per_patient_and_pharmacy_shared_by_vials() -> None:
    two = pharmacy("ph2", shipping=901)
    lines = [
        PricedLine("a", "p1", "ph1", 2),  # p1 at ph1: one shipment of 3 vials, 1500
        PricedLine("b", "p1", "ph1", 1),
        PricedLine("c", "p2", "ph1", 1),  # p2 at ph1: its own 1500
        PricedLine("d", "p1", "ph2", 4),  # p1 at ph2: its own 901
    ]
    shares = shipping_shares(lines, {"ph1": pharmacy(), "ph2": two})
    assert shares == {"a": 1000, "b": 500, "c": 1500, "d": 901}


def test_checkout_plan_places_one_order_per_line_and_one_invoice_for_the_total() -> None:
    given = cart(("p-tx", GOOD_SIG, 2, "ph1"), ("p-tx", GOOD_SIG.replace("10", "20"), 1, "ph1"))
    plan = plan_checkout(given, WORLD, CheckoutIds("inv", ("o1", "o2"), ("R-1", "R-2")), NOW)
    # one shipment (same patient, same pharmacy): 1500 shared 2:1 over the vials
    lines = [o.placed.lines[0] for o in plan.orders]
    assert [(ln.unit_price_cents, ln.shipping_cents) for ln in lines] == [(4850, 1000), (4850, 500)]
    assert plan.invoice.amount_cents == plan.checked_out.total_cents == 3 * 4850 + 1500
    assert sum(ln.total_cents for ln in lines) == plan.invoice.amount_cents
    assert plan.invoice.order_ids == ("o1", "o2")
    assert plan.invoice.clinic_id == "c1"
    sources = {(o.placed.source, o.placed.source_context) for o in plan.orders}
    assert sources == {("CLINIC_CART", "CLINIC_ORDER")}
    assert plan.orders[0].rx.master_id == "clinic:1234567893"
    # the name says the strength once; the vials are reserved at the pharmacy
    assert lines[0].name == "Sema 2.5 mg/mL"
    assert [(r.order_id, r.quantity) for r in plan.reservations["ph1"]] == [("o1", 2), ("o2", 1)]


def test_an_order_name_does_not_repeat_a_strength_the_product_name_has() -> None:
    assert order_name(replace(product(), name="Semaglutide 2.5 mg/mL (compounded)"), "2.5 mg/mL") == (
        "Semaglutide 2.5 mg/mL (compounded)"
    )
    assert order_name(product(), "2.5 MG/ML") == "Sema 2.5 MG/ML"


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
    by_cost, unfit = pharmacy_options(everyone, "sema", "TX", 1, "cost")
    by_speed, _ = pharmacy_options(everyone, "sema", "TX", 1, "turnaround")
    assert [o.pharmacy.id for o in by_cost] == ["cheap", "fast"]
    assert [o.pharmacy.id for o in by_speed] == ["fast", "cheap"]
    assert [(u.pharmacy.id, u.reasons) for u in unfit] == [
        ("empty", ("OUT_OF_STOCK",)),
        ("far", ("PHARMACY_NOT_LICENSED_IN_STATE",)),
    ]


def test_pharmacy_options_that_fit_nothing_say_every_reason() -> None:
    bare = replace(pharmacy("bare", states="NY"), offerings={})
    stale = pharmacy("stale", active=False, on_hand=0)
    options, unfit = pharmacy_options([bare, stale], "sema", "TX", 2, "cost")
    assert options == []
    assert [(u.pharmacy.id, u.reasons) for u in unfit] == [
        ("bare", ("PRODUCT_NOT_AT_PHARMACY", "PHARMACY_NOT_LICENSED_IN_STATE")),
        ("stale", ("PRODUCT_INACTIVE", "OUT_OF_STOCK")),
    ]


def test_a_controlled_product_needs_a_prescriber_with_a_dea_number() -> None:
    controlled = pharmacy()
    controlled = replace(
        controlled, offerings={"sema": replace(controlled.offerings["sema"], controlled=True)}
    )
    world = replace(WORLD, pharmacies={"ph1": controlled})
    assert codes(cart(("p-tx", GOOD_SIG, 1, "ph1")), world) == [("L0", "PRESCRIBER_DEA_REQUIRED")]
    dea = {"dr-tx": replace(WORLD.prescribers["dr-tx"], dea_number="AB1234563")}
    assert codes(cart(("p-tx", GOOD_SIG, 1, "ph1")), replace(world, prescribers=dea)) == []


def test_reserved_vials_leave_stock_once_and_come_back_once() -> None:
    ph = pharmacy(on_hand=5)
    reserved = evolve_pharmacy(ph, PharmacyStockReserved(product_id="sema", quantity=3, order_id="o1"), "ph1")
    again = evolve_pharmacy(
        reserved, PharmacyStockReserved(product_id="sema", quantity=3, order_id="o1"), "ph1"
    )
    assert reserved.offerings["sema"].on_hand == again.offerings["sema"].on_hand == 2
    # the next cart's 3 vials no longer fit
    world = replace(WORLD, pharmacies={"ph1": again})
    assert codes(cart(("p-tx", GOOD_SIG, 3, "ph1")), world) == [("L0", "OUT_OF_STOCK")]
    (released,) = release_stock(again, "o1", "sema", 3, "rejected")
    back = evolve_pharmacy(again, released, "ph1")
    assert back.offerings["sema"].on_hand == 5
    assert release_stock(back, "o1", "sema", 3, "rejected") == []
    assert release_stock(back, "never-reserved", "sema", 3, "canceled") == []
