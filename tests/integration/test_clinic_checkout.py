"""Refill day through the service layer on SQLite: a 60-patient cart, validated, fixed, paid once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.eventstore import LedgerStore
from adapters.payments.fake import FakeGateway
from domain.catalog import MedicalReviewMapping
from domain.clinic.validation import CartNotValid
from domain.events import Actor
from domain.status import order_status
from service import catalog, clinic
from service.deps import Deps
from service.reconcile import reconcile_payments
from service.unit import Context, load

STATES = ("TX", "CA", "NY", "FL")


@dataclass
class RefillDay:
    deps: Deps
    gateway: FakeGateway
    staff: Context
    user: str
    clinic_id: str
    card: str
    sema: str
    tirz: str
    belmar: str
    empower: str
    dr_wide: str
    dr_texas: str
    patients: list[str]


def npi(first9: str) -> str:
    total = 24 + sum(
        (lambda d: d - 9 if d > 9 else d)(int(c) * (2 if i % 2 == 0 else 1))
        for i, c in enumerate(reversed(first9))
    )
    return first9 + str((10 - total % 10) % 10)


@pytest.fixture
def day(tmp_path: Path) -> RefillDay:
    store = LedgerStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "x.sqlite")}
    )
    gateway = FakeGateway()
    deps = Deps(store, gateways={"fake": gateway})
    staff = Context(Actor(kind="staff", id="s1"), "org-1", "corr-1", "cause-1")
    catalog.configure_organization(deps, staff, "Demo Clinic Group", "fake")
    sema = catalog.add_product(
        deps,
        staff,
        sku="SEMA-2.5",
        name="Semaglutide",
        price_cents=0,
        currency="usd",
        active=True,
        kind="medication",
        requires_intake=True,
        medical_review=MedicalReviewMapping(visit_type="glp1", med_id="med-sema"),
        pharmacy=None,
    ).id
    tirz = catalog.add_product(
        deps,
        staff,
        sku="TIRZ-10",
        name="Tirzepatide",
        price_cents=0,
        currency="usd",
        active=True,
        kind="medication",
        requires_intake=False,
        medical_review=None,
        pharmacy=None,
    ).id
    belmar = clinic.register_pharmacy(deps, staff, "Belmar", "belmar", list(STATES), shipping_cents=1500).id
    empower = clinic.register_pharmacy(
        deps, staff, "Empower", "dispensepro", ["TX", "CA"], shipping_cents=900
    ).id
    clinic.set_offering(
        deps,
        staff,
        belmar,
        sema,
        strength="2.5 mg/mL",
        vial_price_cents=4500,
        fee_cents=350,
        turnaround_days=5,
        on_hand=500,
    )
    clinic.set_offering(
        deps,
        staff,
        belmar,
        tirz,
        strength="10 mg/mL",
        vial_price_cents=9000,
        fee_cents=500,
        turnaround_days=5,
        on_hand=0,
    )
    clinic.set_offering(
        deps,
        staff,
        empower,
        sema,
        strength="2.5 mg/mL",
        vial_price_cents=4900,
        fee_cents=0,
        turnaround_days=2,
        on_hand=100,
    )
    clinic.set_offering(
        deps,
        staff,
        empower,
        tirz,
        strength="10 mg/mL",
        vial_price_cents=9900,
        fee_cents=0,
        turnaround_days=2,
        on_hand=100,
    )
    clinic_id = clinic.register_clinic(deps, staff, "Lone Star Wellness").id
    user = clinic.register_clinic_user(deps, staff, clinic_id, "Pat Nurse", "pat@example.test").id
    dr_wide = clinic.register_prescriber(deps, staff, clinic_id, "Dr Wide", npi("123456789"), list(STATES)).id
    dr_texas = clinic.register_prescriber(deps, staff, clinic_id, "Dr Texas", npi("987654321"), ["TX"]).id
    patients = []
    for i in range(60):
        pid = catalog.register_patient(
            deps, staff, name=f"Patient {i}", email=f"p{i}@example.test", state=STATES[i % 4]
        ).id
        clinic.enroll_patient(deps, staff, clinic_id, pid)
        patients.append(pid)
    _, card = clinic.save_clinic_payment_method(deps, staff, clinic_id, gateway="fake", token="pm_card_visa")
    return RefillDay(
        deps, gateway, staff, user, clinic_id, card, sema, tirz, belmar, empower, dr_wide, dr_texas, patients
    )


def as_user(day: RefillDay) -> Context:
    return day.staff.as_actor(Actor(kind="clinic_user", id=day.user))


GOOD_SIG = "Inject 0.25 mg subcutaneously once weekly"


def fill_cart(day: RefillDay, patients: list[str]) -> tuple[str, list[str]]:
    ctx = as_user(day)
    cart_id = clinic.open_cart(day.deps, ctx, day.user).cart.id
    drafts = [clinic.LineDraft(p, day.sema, 2, day.belmar, GOOD_SIG, day.dr_wide) for p in patients]
    view = clinic.add_lines(day.deps, ctx, day.user, cart_id, drafts)
    return cart_id, list(view.cart.lines)


def test_sixty_patient_cart_reports_all_three_planted_problems_then_checks_out_once(day: RefillDay) -> None:
    ctx, deps = as_user(day), day.deps
    # given a 60-patient cart with three planted problems
    cart_id, line_ids = fill_cart(day, day.patients)
    bad_sig, unlicensed, no_stock = line_ids[7], line_ids[21], line_ids[41]
    assert STATES[21 % 4] == "CA"
    assert STATES[41 % 4] == "CA"
    clinic.change_line(deps, ctx, day.user, cart_id, bad_sig, sig="Use as directed")
    clinic.change_line(deps, ctx, day.user, cart_id, unlicensed, prescriber_id=day.dr_texas)
    clinic.remove_line(deps, ctx, day.user, cart_id, no_stock)
    no_stock = list(
        clinic.add_lines(
            deps,
            ctx,
            day.user,
            cart_id,
            [clinic.LineDraft(day.patients[41], day.tirz, 1, day.belmar, GOOD_SIG, day.dr_wide)],
        ).cart.lines
    )[-1]

    # when the whole cart is validated in one call
    outcome = clinic.validate(deps, ctx, day.user, cart_id)

    # then each problem is reported on its own line, and nothing else
    assert not outcome.ok
    assert sorted((p.line_id, p.code) for p in outcome.problems) == sorted(
        [
            (bad_sig, "SIG_INCOMPLETE"),
            (unlicensed, "PRESCRIBER_NOT_LICENSED_IN_STATE"),
            (no_stock, "OUT_OF_STOCK"),
        ]
    )
    assert clinic.get_cart(deps, ctx, day.user, cart_id).cart.last_validation == outcome

    # and checkout is refused with the same problems, charging nothing
    with pytest.raises(CartNotValid) as refused:
        clinic.checkout(deps, ctx, day.user, cart_id, day.card, "key-1")
    assert refused.value.problems == outcome.problems
    assert day.gateway.charges() == []

    # when the three lines are fixed
    clinic.change_line(deps, ctx, day.user, cart_id, bad_sig, sig=GOOD_SIG)
    clinic.change_line(deps, ctx, day.user, cart_id, unlicensed, prescriber_id=day.dr_wide)
    clinic.change_line(deps, ctx, day.user, cart_id, no_stock, pharmacy_id=day.empower)
    assert clinic.validate(deps, ctx, day.user, cart_id).ok
    view = clinic.get_cart(deps, ctx, day.user, cart_id)
    result = clinic.checkout(deps, ctx, day.user, cart_id, day.card, "key-2")

    # then one payment for the cart total, and 60 orders routed to their pharmacies
    charges = day.gateway.charges()
    assert len(charges) == 1
    assert charges[0].succeeded
    assert charges[0].amount_cents == result.invoice.amount_cents == view.total_cents
    assert view.total_cents == sum(p.line_total_cents for p in view.prices.values())
    assert result.invoice.status == "PAID"
    assert len(result.orders) == 60
    assert {o.placed.source for o in result.orders} == {"CLINIC_CART"}
    assert {o.placed.invoice_id for o in result.orders} == {result.invoice.id}
    routed = {o.placed.lines[0].pharmacy_id for o in result.orders if o.patient_id == day.patients[41]}
    assert routed == {day.empower}
    # compounding waits for the pharmacy: paid, prescribed in-house, not yet accepted
    assert {order_status(o) for o in result.orders} == {"AWAITING_FULFILLMENT"}


def test_landed_cost_is_price_plus_fees_plus_shipping_share(day: RefillDay) -> None:
    # given three vials at Belmar: $45.00 + $3.50 fees each, $15.00 shipping for the shipment
    ctx = as_user(day)
    cart_id, (line,) = fill_cart(day, day.patients[:1])
    clinic.change_line(day.deps, ctx, day.user, cart_id, line, quantity=3)
    # when the cart is viewed
    cost = clinic.get_cart(day.deps, ctx, day.user, cart_id).prices[line]
    # then the line carries the one $15.00 fee: 3 x (4500 + 350) + 1500, $53.50 a vial
    assert (cost.shipping_share_cents, cost.landed_unit_cents, cost.line_total_cents) == (1500, 5350, 16050)


def test_repeated_checkout_never_places_or_charges_twice(day: RefillDay) -> None:
    ctx = as_user(day)
    cart_id, _ = fill_cart(day, day.patients[:3])
    first = clinic.checkout(day.deps, ctx, day.user, cart_id, day.card, "same-key")
    again = clinic.checkout(day.deps, ctx, day.user, cart_id, day.card, "same-key")
    without_key = clinic.checkout(day.deps, ctx, day.user, cart_id, day.card, None)
    assert again.invoice.id == first.invoice.id == without_key.invoice.id
    assert not again.created
    assert not without_key.created
    assert len(day.gateway.charges()) == 1


def test_declined_card_keeps_orders_and_a_later_checkout_pays_the_same_invoice(day: RefillDay) -> None:
    ctx = as_user(day)
    _, failing = clinic.save_clinic_payment_method(
        day.deps, day.staff, day.clinic_id, gateway="fake", token="pm_card_chargeCustomerFail"
    )
    cart_id, _ = fill_cart(day, day.patients[:2])
    declined = clinic.checkout(day.deps, ctx, day.user, cart_id, failing, "k1")
    assert declined.attempt is not None
    assert declined.attempt.outcome == "failed"
    assert {order_status(o) for o in declined.orders} == {"PENDING_PAYMENT"}
    paid = clinic.checkout(day.deps, ctx, day.user, cart_id, day.card, "k2")
    assert paid.invoice.id == declined.invoice.id
    assert declined.created
    assert not paid.created
    assert paid.invoice.status == "PAID"
    assert [o.id for o in paid.orders] == [o.id for o in declined.orders]


def test_quickfill_reorder_and_pharmacy_choice(day: RefillDay) -> None:
    ctx, deps = as_user(day), day.deps
    quick = clinic.save_quickfill(
        deps,
        ctx,
        day.user,
        name="Sema start",
        product_id=day.sema,
        quantity=1,
        pharmacy_id=day.belmar,
        sig=GOOD_SIG,
        prescriber_id=day.dr_wide,
    )
    cart_id = clinic.open_cart(deps, ctx, day.user).cart.id
    # a quickfill for three patients (one named twice) gives three lines; applying it again merges
    clinic.apply_quickfill(deps, ctx, day.user, cart_id, quick.id, [*day.patients[:3], day.patients[0]])
    view = clinic.apply_quickfill(deps, ctx, day.user, cart_id, quick.id, day.patients[:1])
    assert sorted(ln.quantity for ln in view.cart.lines.values()) == [1, 1, 2]
    placed = clinic.checkout(deps, ctx, day.user, cart_id, day.card, None)
    # reorder one past order into a new cart, with its pharmacy, SIG and prescriber
    next_cart = clinic.open_cart(deps, ctx, day.user).cart.id
    line = next(iter(clinic.reorder(deps, ctx, day.user, next_cart, placed.orders[1].id).cart.lines.values()))
    assert (line.patient_id, line.pharmacy_id, line.sig) == (day.patients[1], day.belmar, GOOD_SIG)
    # Belmar lands at 4500 + 350 + 1500 = 6350 per single vial, Empower at 4900 + 900 = 5800 but ships
    # in 2 days against 5: both orders put Empower first for a Texas patient; in New York only Belmar ships
    by_cost, _ = clinic.pharmacy_options(deps, ctx, day.user, day.sema, day.patients[0], "cost")
    assert [o.pharmacy.name for o in by_cost] == ["Empower", "Belmar"]
    new_york, unfit = clinic.pharmacy_options(deps, ctx, day.user, day.sema, day.patients[2], "turnaround")
    assert [o.pharmacy.name for o in new_york] == ["Belmar"]
    assert [(u.pharmacy.name, u.reasons) for u in unfit] == [("Empower", ("PHARMACY_NOT_LICENSED_IN_STATE",))]


def test_an_interrupted_checkout_charge_is_finished_once_by_a_replay_or_the_reconciler(
    day: RefillDay,
) -> None:
    """Clinic checkout has the refill's split (issue 10): the attempt commits with the orders, so an
    answer lost after charging leaves it pending, and finishing it never charges the cart twice."""
    ctx = as_user(day)
    first_cart, _ = fill_cart(day, day.patients[:2])
    second_cart, _ = fill_cart(day, day.patients[2:4])
    day.gateway.fail_next(after_charging=True)
    lost = clinic.checkout(day.deps, ctx, day.user, first_cart, day.card, "lost-1")
    day.gateway.fail_next(1)  # this one never reached the gateway
    unsent = clinic.checkout(day.deps, ctx, day.user, second_cart, day.card, "unsent-1")
    assert lost.attempt is not None and lost.attempt.outcome == "pending"
    assert unsent.attempt is not None and unsent.attempt.outcome == "pending"

    day.deps.clock = lambda: datetime.now(UTC) + timedelta(minutes=3)
    replayed = clinic.checkout(day.deps, ctx, day.user, first_cart, day.card, "lost-1")  # the key again
    assert replayed.invoice.status == "PAID"
    assert reconcile_payments(day.deps) == 1  # the other one
    finished = clinic.checkout(day.deps, ctx, day.user, second_cart, day.card, "unsent-1")
    assert finished.invoice.status == "PAID"
    paid_for = [c.metadata["invoice_id"] for c in day.gateway.charges() if c.succeeded]
    assert sorted(paid_for) == sorted([lost.invoice.id, unsent.invoice.id])  # once each
    assert {order_status(o) for o in finished.orders} != {"PENDING_PAYMENT"}


def test_validating_an_unchanged_cart_again_records_nothing_new(day: RefillDay) -> None:
    ctx = as_user(day)
    cart_id, (line,) = fill_cart(day, day.patients[:1])
    first = clinic.validate(day.deps, ctx, day.user, cart_id)
    version = load(day.deps.store, "cart", cart_id).version
    assert clinic.validate(day.deps, ctx, day.user, cart_id) == first
    assert load(day.deps.store, "cart", cart_id).version == version
    clinic.change_line(day.deps, ctx, day.user, cart_id, line, quantity=3)  # an edit: a new outcome
    clinic.validate(day.deps, ctx, day.user, cart_id)
    assert load(day.deps.store, "cart", cart_id).version == version + 2
