"""Refill eligibility and the refill decision, given/when/then over pure functions."""

from __future__ import annotations

from domain import refills
from domain.orders import IntakeRecorded, OrderCanceled, OrderDelivered, OrderRefunded, RefillOpened
from domain.refills import RefillIds
from tests.unit.given import at, charged, line, order, patient, placed, product


def test_paid_order_in_an_eligible_status_may_be_refilled() -> None:
    p, pat = product(), patient()
    o = order(placed(pat.id, line(p, 2)), charged())
    assert refills.eligibility_for_request(o, pat, p, p.id, "pm-fake", "fake") == []
    assert refills.eligibility_for_listing(o, pat, {p.id: p}, "fake") == []


def test_every_failed_rule_is_named() -> None:
    p, pat = product(active=False), patient(gateways=())
    other = patient("someone-else")
    o = order(placed(other.id, line(p)))  # unpaid, another patient's, product inactive, no card
    reasons = refills.eligibility_for_request(o, pat, p, p.id, "pm-x", "fake")
    assert reasons == [
        "ORDER_NOT_OWNED",
        "NOT_PAID",
        "STATUS_NOT_ELIGIBLE",
        "NO_SAVED_PAYMENT_METHOD",
        "PRODUCT_INACTIVE",
    ]


def test_terminal_statuses_are_not_eligible() -> None:
    p, pat = product(), patient()
    for terminal in (
        OrderRefunded(reason="r", amount_cents=1),
        OrderCanceled(reason="c"),
        IntakeRecorded(status="rejected"),
    ):
        o = order(placed(pat.id, line(p)), charged(), terminal)
        assert refills.eligibility_for_listing(o, pat, {p.id: p}, "fake") == ["STATUS_NOT_ELIGIBLE"]


def test_product_must_be_on_the_order_and_the_method_of_the_active_gateway() -> None:
    on_order, elsewhere, pat = product("p1"), product("p2"), patient(gateways=("fake", "legacy"))
    o = order(placed(pat.id, line(on_order)), charged())
    assert refills.eligibility_for_request(o, pat, elsewhere, elsewhere.id, "pm-fake", "fake") == [
        "PRODUCT_NOT_ON_ORDER"
    ]
    assert refills.eligibility_for_request(o, pat, on_order, on_order.id, "pm-legacy", "fake") == [
        "PAYMENT_METHOD_NOT_USABLE"
    ]


def test_refill_is_one_unit_at_the_current_price_linked_to_the_original() -> None:
    p, pat = product(price_cents=20000), patient()
    original = order(placed(pat.id, line(p, 3)), charged())
    repriced = product(price_cents=24500)
    ids = RefillIds(refill_id="r1", order_id="o2", order_number="R-2002", invoice_id="inv2")

    decision = refills.request_refill(original, repriced, pat, "pm-fake", ids, "key", at(5))

    assert [(ln.quantity, ln.unit_price_cents) for ln in decision.order.lines] == [(1, 24500)]
    assert decision.invoice.amount_cents == 24500
    assert (decision.order.source, decision.order.source_context) == ("PATIENT_PORTAL", "PATIENT_REFILL")
    assert (decision.order.refill_of_order_id, decision.order.refill_of_order_number) == ("o1", "R-1001")
    assert decision.order.refill_original_quantity == 3
    assert decision.original == RefillOpened(
        refill_id="r1", refill_order_id="o2", refill_order_number="R-2002", product_id=p.id, invoice_id="inv2"
    )


def test_open_refill_is_returned_until_it_is_closed() -> None:
    p, pat = product(), patient()
    opened = RefillOpened(
        refill_id="r1", refill_order_id="o2", refill_order_number="R-2", product_id=p.id, invoice_id="inv2"
    )
    original = order(placed(pat.id, line(p)), charged(), opened)
    unpaid_refill = order(placed(pat.id, line(p)), oid="o2")
    assert refills.open_refill(original, p.id, {"o2": unpaid_refill}) == "r1"
    delivered = order(
        placed(pat.id, line(p)), charged(), OrderDelivered(vendor_event_id="e", delivered_at=at(9)), oid="o2"
    )
    assert refills.open_refill(original, p.id, {"o2": delivered}) is None
    assert refills.open_refill(original, "another-product", {"o2": unpaid_refill}) is None
