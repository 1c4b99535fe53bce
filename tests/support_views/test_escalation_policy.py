"""The escalation policy over the seeded situations: idempotent, and a pending charge comes due by time."""

from __future__ import annotations

import time
from datetime import timedelta

from adapters.eventstore import decode_notification
from domain.escalations import EscalationRaised
from domain.invoices import PaymentAttempted, PaymentFailed
from projections.runner import catch_up
from service import escalations, orders
from service.policies import Policies, run_policies_once
from service.unit import load
from tests.support_views.world import World


def _raised(w: World) -> list[EscalationRaised]:
    found = []
    for n in w.runtime.deps.store.iter_notifications(topics=["EscalationRaised"]):
        fact = decode_notification(n).fact
        assert isinstance(fact, EscalationRaised)
        found.append(fact)
    return found


def test_evaluating_every_order_again_records_nothing(seeded: World) -> None:
    seeded.escalate()
    before = _raised(seeded)
    assert {(f.order_id, f.kind) for f in before} == {
        (seeded.orders[s], kind) for s, kinds in seeded.expected.items() for kind in kinds
    }
    again = escalations.evaluate_orders(
        seeded.runtime.deps, seeded.ctx, seeded.orders.values(), pending_after=timedelta(minutes=15)
    )
    assert again == []
    assert len(_raised(seeded)) == len(before)


def test_a_charge_left_pending_is_raised_by_the_sweep_and_resolved_by_its_outcome(seeded: World) -> None:
    deps, d, ctx = seeded.runtime.deps, seeded.demo, seeded.ctx
    placed = orders.place_order(deps, ctx, d["patients"]["ada"], [(d["products"]["sharps_kit"], 1)])
    invoice = load(deps.store, "invoice", placed.invoice.id)
    batch = deps.batch(ctx)
    attempt = PaymentAttempted(
        attempt=1,
        gateway="fake",
        payment_method_id=d["payment_methods"]["ada_visa"],
        idempotency_key="pending-1",
        amount_cents=1500,
        attempted_at=batch.now,
    )
    batch.extend(invoice, attempt)
    deps.commit(batch)
    catch_up(deps.store, seeded.runtime.views, seeded.runtime.projection("stuck_orders"))
    policies: Policies = seeded.runtime.policies
    policies.pending_charge_after, policies.sweep_seconds = timedelta(seconds=3), 0.0
    seeded.escalate()
    assert not seeded.get("/cs/escalations", order_id=placed.order.id)["escalations"]  # not due yet
    time.sleep(3.2)
    run_policies_once(policies)  # the sweep: no event made it due, time did
    (pending,) = seeded.get("/cs/escalations", order_id=placed.order.id)["escalations"]
    assert pending["kind"] == "CHARGE_PENDING" and "no recorded outcome" in pending["why"]
    run_policies_once(policies)  # swept again: still one
    assert len(seeded.get("/cs/escalations", order_id=placed.order.id)["escalations"]) == 1
    invoice = load(deps.store, "invoice", placed.invoice.id)
    batch = deps.batch(ctx)
    batch.extend(invoice, PaymentFailed(attempt=1, gateway="fake", decline_code="x", message="Declined."))
    deps.commit(batch)
    seeded.escalate()
    assert not seeded.get("/cs/escalations", order_id=placed.order.id)["escalations"]
    resolved = seeded.get("/cs/escalations", order_id=placed.order.id, state="resolved")["escalations"]
    assert [e["id"] for e in resolved] == [pending["id"]]
