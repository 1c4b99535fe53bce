"""Interrupted charges are finished, never charged twice (issue 10, defect 2).

An attempt whose outcome was never recorded stays pending; once older than `pending_after`, the
reconciler (or a replay of the request's key) asks the gateway under the attempt's own key and
charges only if the gateway never saw it. Counted at the gateway's own (durable) ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.payments.fake import FakeGateway
from domain.events import Actor
from domain.invoices import Invoice
from domain.refills import Refill
from projections.stuck import stuck_orders
from service import orders, refills
from service.reconcile import reconcile_payments
from service.refills import RefillOutcome
from service.unit import Context, load
from tests.integration.test_fulfillment import World, make_world
from tests.support.vendors import ORG


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    w = make_world(tmp_path, url)
    # A gateway with its own ledger file, as `ledger serve` wires it: a restart keeps its charges.
    w.runtime.deps.gateways = {"fake": FakeGateway(ledger_path=tmp_path / "fake-gateway.sqlite")}
    yield w
    w.pharmacy.stop()
    for hook in reversed(w.runtime.on_shutdown):
        hook()


def _gateway(w: World) -> FakeGateway:
    gateway = w.runtime.deps.gateways["fake"]
    assert isinstance(gateway, FakeGateway)
    return gateway


def _later(w: World, minutes: int = 3) -> None:
    """Move the ledger's clock past `pending_after` (the wall clock would take minutes)."""
    w.runtime.deps.clock = lambda: datetime.now(UTC) + timedelta(minutes=minutes)


def _refill(w: World, key: str, *, fail: int = 0, after_charging: bool = False) -> RefillOutcome:
    """A paid original, then a refill whose charge call fails `fail` times (before or after charging)."""
    original = orders.place_order(w.runtime.deps, w.staff, w.patient_id, [(w.product_id, 1)])
    orders.pay_invoice(w.runtime.deps, w.staff, original.invoice.id, w.card, f"pay-{key}")
    if fail:
        _gateway(w).fail_next(fail, after_charging=after_charging)
    ctx = Context(Actor(kind="patient", id=w.patient_id), ORG, key, key)
    return refills.request_refill(
        w.runtime.deps, ctx, w.patient_id, original.order.id, w.product_id, w.card, key
    )


def _state(w: World, outcome: RefillOutcome) -> tuple[Invoice, Refill, bool]:
    store = w.runtime.deps.store
    invoice: Invoice = load(store, "invoice", outcome.invoice.id).state
    refill: Refill = load(store, "refill", outcome.refill.id).state
    return invoice, refill, load(store, "order", outcome.order.id).state.paid


def _charges_for(w: World, invoice_id: str) -> list[bool]:
    return [c.succeeded for c in _gateway(w).charges() if c.metadata.get("invoice_id") == invoice_id]


def test_a_charge_whose_answer_was_lost_is_found_and_recorded_not_charged_again(world: World) -> None:
    # Charged at the gateway; our call times out.
    outcome = _refill(world, "lost-answer", fail=1, after_charging=True)
    assert outcome.invoice.last_attempt is not None
    assert outcome.invoice.last_attempt.outcome == "pending"  # unknown is not "declined"
    assert _charges_for(world, outcome.invoice.id) == [True]

    assert reconcile_payments(world.runtime.deps) == 0  # not stale yet: it may still be in flight
    _later(world)
    assert reconcile_payments(world.runtime.deps) == 1
    invoice, refill, paid = _state(world, outcome)
    assert (invoice.status, refill.charge, paid) == ("PAID", "succeeded", True)
    assert _charges_for(world, outcome.invoice.id) == [True]  # found under its key, not re-charged
    assert reconcile_payments(world.runtime.deps) == 0


def test_a_charge_that_never_reached_the_gateway_is_made_once_after_a_restart(
    world: World, tmp_path: Path
) -> None:
    outcome = _refill(world, "never-sent", fail=1)  # the request never reached the gateway
    assert _charges_for(world, outcome.invoice.id) == []
    # A new process: a new gateway object on the same ledger file.
    world.runtime.deps.gateways = {"fake": FakeGateway(ledger_path=tmp_path / "fake-gateway.sqlite")}
    _later(world)
    assert reconcile_payments(world.runtime.deps) == 1
    invoice, refill, paid = _state(world, outcome)
    assert (invoice.status, refill.charge, paid) == ("PAID", "succeeded", True)
    assert _charges_for(world, outcome.invoice.id) == [True]
    assert [a.number for a in invoice.attempts] == [1]  # the same attempt, under the same key


def test_a_replay_of_the_key_re_drives_the_interrupted_charge(world: World) -> None:
    first = _refill(world, "replayed", fail=1)
    assert first.invoice.status == "OPEN"
    _later(world)
    ctx = Context(Actor(kind="patient", id=world.patient_id), ORG, "again", "again")
    again = refills.request_refill(
        world.runtime.deps,
        ctx,
        world.patient_id,
        first.refill.requested.original_order_id,
        world.product_id,
        world.card,
        "replayed",
    )
    assert (again.refill.id, again.created) == (first.refill.id, False)
    assert again.invoice.status == "PAID"
    assert _charges_for(world, first.invoice.id) == [True]
    assert reconcile_payments(world.runtime.deps) == 0


def test_a_declined_charge_whose_answer_was_lost_is_recorded_as_declined(world: World) -> None:
    deps = world.runtime.deps
    from service import catalog

    _, declining = catalog.save_payment_method(
        deps, world.staff, world.patient_id, gateway="fake", token="pm_card_chargeCustomerFail", label=None
    )
    original = orders.place_order(deps, world.staff, world.patient_id, [(world.product_id, 1)])
    _gateway(world).fail_next(after_charging=True)
    result = orders.pay_invoice(deps, world.staff, original.invoice.id, declining, "pay-declined")
    assert result.attempt.outcome == "pending"
    _later(world)
    assert reconcile_payments(deps) == 1
    invoice: Invoice = load(deps.store, "invoice", original.invoice.id).state
    assert invoice.status == "OPEN"
    assert [(a.outcome, a.decline_code) for a in invoice.attempts] == [("failed", "card_declined")]
    assert _charges_for(world, original.invoice.id) == [False]


def test_a_charge_the_gateway_cannot_settle_stays_pending_and_shows_as_needing_action(world: World) -> None:
    outcome = _refill(world, "gateway-down", fail=100)  # unreachable, for as long as the test runs
    deps = world.runtime.deps
    _later(world)
    assert reconcile_payments(deps) == 1  # re-driven: asked, but the gateway still cannot answer
    invoice, refill, paid = _state(world, outcome)
    assert [a.outcome for a in invoice.attempts] == ["pending"]  # unknown stays unknown, not "declined"
    assert (refill.charge, paid) == ("pending", False)
    assert _charges_for(world, outcome.invoice.id) == []

    world.runtime.refresh_views()
    overdue = 2 * deps.pending_after.total_seconds()

    def needing_action(at: datetime) -> list[str]:
        rows = stuck_orders(world.runtime.views, ORG, at, only_action=True, payment_overdue_after_s=overdue)
        return [r["order_id"] for r in rows if r["blocking_code"] == "PAYMENT_IN_PROGRESS"]

    assert needing_action(datetime.now(UTC)) == []  # just started: nothing to do yet
    assert needing_action(datetime.now(UTC) + timedelta(minutes=10)) == [outcome.order.id]


def test_a_subscription_cycle_charge_interrupted_before_the_gateway_is_finished_once(world: World) -> None:
    """A cycle's first attempt commits with its order and invoice, as a refill's does."""
    from service import subscriptions

    deps = world.runtime.deps
    sub = subscriptions.start_subscription(
        deps,
        world.staff,
        patient_id=world.patient_id,
        product_id=world.product_id,
        payment_method_id=world.card,
        interval_days=30,
    )
    _gateway(world).fail_next(1)
    cycle = subscriptions.bill_cycle(deps, world.staff, sub.id, None)
    assert cycle.invoice.last_attempt is not None and cycle.invoice.last_attempt.outcome == "pending"
    _later(world)
    assert reconcile_payments(deps) == 1
    again = subscriptions.bill_cycle(deps, world.staff, sub.id, 1)  # billed again: nothing new
    assert (again.created, again.invoice.status) == (False, "PAID")
    assert _charges_for(world, cycle.invoice.id) == [True]


def test_a_refill_recorded_without_any_charge_attempt_is_charged_once(world: World) -> None:
    """Refills stranded before this fix (the batch committed, the process died before the charge,
    issue 10's "invoice and no charge attempt") are charged by the reconciler, once."""
    from uuid import UUID

    from domain import refills as refill_rules
    from domain.refills import RefillIds

    deps = world.runtime.deps
    original = orders.place_order(deps, world.staff, world.patient_id, [(world.product_id, 1)])
    orders.pay_invoice(deps, world.staff, original.invoice.id, world.card, "pay-legacy")
    # The batch exactly as a refill request wrote it before the attempt joined its commit.
    loaded_original = load(deps.store, "order", original.order.id)
    ids = RefillIds(deps.new_id(), deps.new_id(), "R-LEGACY1", deps.new_id())
    decision = refill_rules.request_refill(
        loaded_original.state,
        load(deps.store, "product", world.product_id).state,
        load(deps.store, "patient", world.patient_id).state,
        world.card,
        ids,
        "legacy-key",
        deps.clock(),
    )
    batch = deps.batch(world.staff)
    batch.start(UUID(ids.refill_id), decision.refill)
    batch.start(UUID(ids.order_id), decision.order)
    batch.start(UUID(ids.invoice_id), decision.invoice)
    batch.extend(loaded_original, decision.original)
    deps.commit(batch)

    assert reconcile_payments(deps) == 0  # its request may still be running
    _later(world)
    assert reconcile_payments(deps) == 1
    assert reconcile_payments(deps) == 0
    invoice: Invoice = load(deps.store, "invoice", ids.invoice_id).state
    refill: Refill = load(deps.store, "refill", ids.refill_id).state
    assert (invoice.status, refill.charge) == ("PAID", "succeeded")
    assert _charges_for(world, ids.invoice_id) == [True]
