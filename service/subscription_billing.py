"""Billing a subscription cycle, by hand or on its timer, and dunning a declined one.

One path serves both ways in (`POST /subscriptions/{id}/cycles` and the cycle's timer):
1. one unit creates the cycle's order and invoice and `SubscriptionCycleBilled` (and, on the timer,
   `TimerFired` and the next cycle's `TimerScheduled`), plus a *charge* timer due a little later;
2. the invoice is charged through the ordinary idempotency-keyed charge path (`service.payments`);
3. the unit recording the outcome also records the dunning facts and closes the charge timer.
If the process dies between 2 and 3, the charge timer fires later and re-drives the same attempt
under the same key, so the cycle is charged once and recorded once. A decline schedules the next
retry as its own timer; when a retry finds the invoice already paid (the patient paid it with
another card), it records the payment and charges nothing.
"""

from __future__ import annotations

from domain.dunning import after_payment
from domain.errors import Conflict
from domain.invoices import Invoice
from domain.subscriptions import (
    Subscription,
    SubscriptionCycleBilled,
    SubscriptionCycleNotBilled,
    on_cycle_due,
)
from service.catalog import get_patient, get_product
from service.deps import Deps, retry_on_conflict
from service.dunning import CHARGE, CYCLE, charge_key, cycle_key
from service.orders import line_for, stage_order
from service.payments import charge_invoice, drive_attempt, redrive_stale, usable_method
from service.timers import Firing, NotYet, TimerHandlers, schedule
from service.unit import Batch, Context, load


def schedule_cycle(deps: Deps, batch: Batch, sub: Subscription, cycle_number: int) -> None:
    due = sub.cycle_due_at(cycle_number)
    if due is not None and not sub.canceled:
        schedule(
            deps,
            batch,
            purpose=CYCLE,
            key=cycle_key(cycle_number),
            stream_type="subscription",
            stream_id=sub.id,
            due_at=due,
        )


def create_cycle(
    deps: Deps, ctx: Context, subscription_id: str, cycle_number: int | None, firing: Firing | None = None
) -> tuple[int, str, str, bool] | None:
    """Create cycle k's order and invoice once: (k, order, invoice, created), or None when not billed.

    With `firing` (the cycle's own timer) the decision follows the subscription's state (paused,
    skipped, canceled …) and the timer closes in the same unit; without it (the manual path) the
    outside processor asked for exactly this cycle and gets it.
    """

    def attempt() -> tuple[int, str, str, bool] | None:
        loaded = load(deps.store, Subscription, subscription_id)
        sub: Subscription = loaded.state
        number = cycle_number or sub.next_cycle
        batch = deps.batch(ctx)
        if firing is not None:
            firing.record(batch)
            decision = on_cycle_due(sub, number)
            if decision != "STOP":
                schedule_cycle(deps, batch, sub, number + 1)
            if decision in ("PAUSED", "SKIPPED", "PAST_DUE"):
                batch.extend(loaded, SubscriptionCycleNotBilled(cycle_number=number, reason=decision))
            if decision != "BILL":
                deps.commit(batch)
                return None
        if number in sub.cycles:
            order_id, invoice_id = sub.cycles[number]
            return number, order_id, invoice_id, False
        if sub.canceled:
            raise Conflict("The subscription is canceled.", reasons=("SUBSCRIPTION_CANCELED",))
        if number != sub.next_cycle:
            raise Conflict(f"The next cycle to bill is {sub.next_cycle}.", reasons=("CYCLE_OUT_OF_ORDER",))
        patient = get_patient(deps, ctx, sub.started.patient_id)
        product = get_product(deps, ctx, sub.started.product_id)
        method = usable_method(patient, sub.payment_method_id)
        order_id, invoice_id = stage_order(
            deps,
            batch,
            patient,
            [line_for(product, 1)],
            source="SUBSCRIPTION",
            source_context="SUBSCRIPTION_CYCLE",
            currency=product.currency,
            charge_with=method,  # the first attempt commits with the order: a crash leaves it to finish
            subscription_id=subscription_id,
            cycle_number=number,
        )
        batch.extend(
            loaded, SubscriptionCycleBilled(cycle_number=number, order_id=order_id, invoice_id=invoice_id)
        )
        # The safety net: if this process dies around the charge, this timer re-drives it.
        schedule(
            deps,
            batch,
            purpose=CHARGE,
            key=charge_key(number, 0),
            stream_type="subscription",
            stream_id=subscription_id,
            due_at=batch.now + deps.pending_after,
        )
        deps.commit(batch)
        return number, order_id, invoice_id, True

    return retry_on_conflict(attempt)


def charge_now(deps: Deps, ctx: Context, subscription_id: str, cycle_number: int) -> None:
    """Charge a just-created cycle's first attempt (committed with its order); the outcome's unit
    records the dunning facts and closes the cycle's safety-net timer (`service.dunning`)."""
    sub: Subscription = load(deps.store, Subscription, subscription_id).state
    drive_attempt(deps, ctx, sub.cycles[cycle_number][1], 1, ask_first=False)


def _charge_due(deps: Deps, ctx: Context, firing: Firing, cycle_number: int, retry: int) -> None:
    """A charge timer came due: finish an interrupted charge, or make the retry, or close quietly."""
    sub: Subscription = load(deps.store, Subscription, firing.stream_id).state
    invoice_id = sub.cycles[cycle_number][1]
    invoice: Invoice = load(deps.store, Invoice, invoice_id).state
    last = invoice.last_attempt
    if last is not None and last.outcome == "pending":
        # Interrupted (a crash between the charge and its record): ask the gateway under the
        # attempt's own key, charge only if it never saw it. The outcome's unit closes this timer.
        if redrive_stale(deps, ctx, invoice_id) is None:
            raise NotYet("a charge for this invoice is in flight", last.attempted_at + deps.pending_after)
    elif invoice.status != "OPEN" or sub.canceled or (retry == 0 and last is not None):
        _close_quietly(deps, ctx, firing, cycle_number, invoice)  # paid another way, voided, nothing owed
        return
    else:
        patient = get_patient(deps, ctx, sub.started.patient_id)
        charge_invoice(deps, ctx, invoice_id, usable_method(patient, sub.payment_method_id))
    if firing.store_check(firing.uid):
        raise NotYet("the charge's outcome is not known yet (gateway unreachable)")


def _close_quietly(deps: Deps, ctx: Context, firing: Firing, cycle: int, invoice: Invoice) -> None:
    def attempt() -> None:
        batch = deps.batch(ctx)
        firing.record(batch)
        if invoice.status == "PAID":
            loaded = load(deps.store, Subscription, firing.stream_id)
            batch.extend(loaded, *after_payment(loaded.state, cycle_number=cycle, invoice_id=invoice.id))
        deps.commit(batch)

    retry_on_conflict(attempt)


# -- the timer handlers --------------------------------------------------------------------------


def _fire_cycle(deps: Deps, ctx: Context, firing: Firing) -> None:
    number = int(firing.key.removeprefix("cycle-"))
    created = create_cycle(deps, ctx, firing.stream_id, number, firing)
    if created is not None and created[3]:
        charge_now(deps, ctx, firing.stream_id, number)


def _fire_charge(deps: Deps, ctx: Context, firing: Firing) -> None:
    cycle, retry = (int(part) for part in firing.key.removeprefix("cycle-").split("-charge-"))
    _charge_due(deps, ctx, firing, cycle, retry)


def subscription_handlers() -> TimerHandlers:
    return TimerHandlers(units={CYCLE: _fire_cycle, CHARGE: _fire_charge})
