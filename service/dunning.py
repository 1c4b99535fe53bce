"""A subscription cycle's charge outcome, recorded on the subscription in the same unit as on
the invoice: however the outcome arrives (the charge itself, the reconciler's re-drive, a Stripe
webhook, the patient paying with another card), dunning moves with it or not at all.

The charge timer that was waiting for this outcome (the cycle's safety net, or a dunning retry
that came due) closes in that unit too. A decline counts for dunning only when it is the
subscription's own charge (its first, or a retry whose time has come): a patient's own failed
attempt between two retries leaves the schedule alone.
"""

from __future__ import annotations

from typing import Any

from adapters.payments.port import ChargeOutcome
from domain.dunning import after_decline, after_payment
from domain.invoices import Invoice
from domain.orders import Order
from domain.subscriptions import Subscription
from domain.timers import Timer, TimerCanceled, cancel, fire
from service.deps import Deps
from service.timers import schedule, timer_uuid
from service.unit import Batch, Loaded, Unit, load, try_load

CYCLE = "subscription.cycle"  # cycle k of a subscription is due
CHARGE = "subscription.charge"  # charge (or re-drive, or retry) a billed cycle's invoice


def cycle_key(cycle_number: int) -> str:
    return f"cycle-{cycle_number}"


def charge_key(cycle_number: int, retry: int) -> str:
    return f"cycle-{cycle_number}-charge-{retry}"


def cycle_of(deps: Deps, invoice: Invoice, uow: Unit | None = None) -> tuple[Loaded[Any], int] | None:
    """(subscription, cycle number) when the invoice bills a subscription cycle."""
    if len(invoice.issued.order_ids) != 1:
        return None
    order = (uow or deps.unit()).find(Order, invoice.issued.order_ids[0])  # a refill holds it already
    placed = order.state.placed if order is not None else None
    if placed is None or placed.subscription_id is None or placed.cycle_number is None:
        return None
    return load(deps.store, Subscription, placed.subscription_id), placed.cycle_number


def record_cycle_outcome(
    deps: Deps,
    batch: Batch,
    invoice: Invoice,
    attempt: int,
    outcome: ChargeOutcome,
    uow: Unit | None = None,
) -> None:
    """Add the dunning facts for one settled attempt on a cycle invoice (nothing for other invoices)."""
    found = cycle_of(deps, invoice, uow)
    if found is None:
        return
    loaded, cycle = found
    sub: Subscription = loaded.state
    retry = _current_retry(sub, invoice.id)
    waiting = _waiting_timer(deps, sub, cycle, retry, batch)
    if outcome.succeeded:
        if waiting is not None:
            _close(batch, waiting)
        batch.extend(loaded, *after_payment(sub, cycle_number=cycle, invoice_id=invoice.id))
        cancel_timers(deps, batch, sub, "invoice paid", next_cycle=False, skip=waiting)
        return
    if sub.canceled or waiting is None:
        return  # not the subscription's own charge (or nothing is dunned any more)
    _close(batch, waiting)
    facts, upcoming = after_decline(
        sub,
        cycle_number=cycle,
        invoice_id=invoice.id,
        attempt=attempt,
        decline_code=outcome.decline_code,
        message=outcome.message or "The payment was declined.",
        retry=retry,
        now=batch.now,
        retry_days=deps.dunning_retry_days,
    )
    batch.extend(loaded, *facts)
    if upcoming is not None:
        schedule(
            deps,
            batch,
            purpose=CHARGE,
            key=charge_key(cycle, upcoming.retry),
            stream_type="subscription",
            stream_id=sub.id,
            due_at=upcoming.due_at,
        )


def _current_retry(sub: Subscription, invoice_id: str) -> int:
    """Which charge of the cycle this is: 0 its own, n its n-th dunning retry."""
    dunning = sub.dunning
    if dunning is None or dunning.invoice_id != invoice_id or not dunning.attempts:
        return 0
    return dunning.attempts[-1].retry + 1


def _waiting_timer(deps: Deps, sub: Subscription, cycle: int, retry: int, batch: Batch) -> Loaded[Any] | None:
    """The pending charge timer this outcome answers: the cycle's safety net (retry 0, due a little
    after the charge) or a retry whose time has come."""
    loaded = try_load(deps.store, Timer, timer_uuid(CHARGE, sub.id, charge_key(cycle, retry)))
    if loaded is None or loaded.state.state != "PENDING":
        return None
    timer: Timer = loaded.state
    return loaded if retry == 0 or timer.due_at <= batch.now else None


def _close(batch: Batch, loaded: Loaded[Any]) -> None:
    timer: Timer = loaded.state
    closing = (
        fire(timer, batch.now, batch.ctx.actor.label())
        if timer.due_at <= batch.now
        else TimerCanceled(reason="settled before due")
    )
    batch.extend(loaded, closing)


def cancel_timers(
    deps: Deps,
    batch: Batch,
    sub: Subscription,
    reason: str,
    *,
    next_cycle: bool,
    skip: Loaded[Any] | None = None,
) -> None:
    """Cancel the subscription's pending dunning retries (and, with `next_cycle`, its next cycle)."""
    keys: list[tuple[str, str]] = [(CYCLE, cycle_key(sub.next_cycle))] if next_cycle else []
    if sub.dunning is not None:
        cycle = sub.dunning.cycle_number
        keys += [(CHARGE, charge_key(cycle, a.retry + 1)) for a in sub.dunning.attempts]
    for purpose, key in keys:
        timer = try_load(deps.store, Timer, timer_uuid(purpose, sub.id, key))
        if timer is None or (skip is not None and timer.id == skip.id):
            continue
        closing = cancel(timer.state, reason)
        if closing is not None:
            batch.extend(timer, closing)
