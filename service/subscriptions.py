"""Subscriptions: start one (its first cycle's timer with it), change it, and the manual cycle path.

The ledger bills cycles by itself on timers (`service.subscription_billing`); `bill_cycle` stays
for an outside processor and goes through exactly the same path. Pause, resume, skip-next and
cancel are facts decided in `domain.subscriptions`; cancel also cancels the pending timers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from domain import subscriptions as rules
from domain.errors import Conflict, InvalidCommand
from domain.invoices import Invoice
from domain.orders import Order
from domain.subscriptions import (
    Subscription,
    SubscriptionFact,
    SubscriptionPaymentMethodChanged,
    SubscriptionStarted,
)
from service.catalog import get_patient, get_product
from service.deps import Deps, retry_on_conflict
from service.dunning import cancel_timers
from service.orders import get_invoice, get_order
from service.payments import redrive_stale, usable_method
from service.subscription_billing import charge_now, create_cycle, schedule_cycle
from service.unit import Context, load_owned


@dataclass(frozen=True)
class CycleResult:
    subscription: Subscription
    order: Order
    invoice: Invoice
    created: bool


def start_subscription(
    deps: Deps,
    ctx: Context,
    *,
    patient_id: str,
    product_id: str,
    payment_method_id: str,
    interval_days: int,
    starts_at: datetime | None = None,
) -> Subscription:
    """Start a subscription; cycle k is then due at `starts_at` (default: now) + k * interval."""
    patient = get_patient(deps, ctx, patient_id)
    get_product(deps, ctx, product_id)
    usable_method(patient, payment_method_id)
    if interval_days < 1:
        raise InvalidCommand("interval_days must be at least 1.", field="interval_days")
    sub_id = deps.new_uuid()
    batch = deps.batch(ctx)
    started = SubscriptionStarted(
        patient_id=patient_id,
        product_id=product_id,
        payment_method_id=payment_method_id,
        interval_days=interval_days,
        starts_at=starts_at or batch.now,
    )
    batch.start(sub_id, started)
    schedule_cycle(deps, batch, rules.evolve_subscription(None, started, str(sub_id)), 1)
    deps.commit(batch)
    return get_subscription(deps, ctx, str(sub_id))


def get_subscription(deps: Deps, ctx: Context, subscription_id: str) -> Subscription:
    state = load_owned(deps.store, ctx, Subscription, subscription_id).state
    return state


def _change(
    deps: Deps, ctx: Context, subscription_id: str, decide: Callable[[Subscription], SubscriptionFact]
) -> Subscription:
    def attempt() -> None:
        loaded = load_owned(deps.store, ctx, Subscription, subscription_id)
        fact = decide(loaded.state)
        batch = deps.batch(ctx)
        batch.extend(loaded, fact)
        if isinstance(fact, rules.SubscriptionCanceled):
            cancel_timers(deps, batch, loaded.state, "subscription canceled", next_cycle=True)
        deps.commit(batch)

    retry_on_conflict(attempt)
    return get_subscription(deps, ctx, subscription_id)


def pause(deps: Deps, ctx: Context, subscription_id: str) -> Subscription:
    return _change(deps, ctx, subscription_id, rules.pause)


def resume(deps: Deps, ctx: Context, subscription_id: str) -> Subscription:
    return _change(deps, ctx, subscription_id, rules.resume)


def skip_next(deps: Deps, ctx: Context, subscription_id: str) -> Subscription:
    return _change(deps, ctx, subscription_id, rules.skip_next)


def cancel_subscription(deps: Deps, ctx: Context, subscription_id: str, reason: str) -> Subscription:
    return _change(deps, ctx, subscription_id, lambda sub: rules.cancel(sub, reason))


def change_payment_method(
    deps: Deps, ctx: Context, subscription_id: str, payment_method_id: str
) -> Subscription:
    """The card later cycles and dunning retries charge (the patient's own, of a usable gateway)."""
    sub = get_subscription(deps, ctx, subscription_id)
    usable_method(get_patient(deps, ctx, sub.started.patient_id), payment_method_id)

    def decide(current: Subscription) -> SubscriptionFact:
        if current.canceled:
            raise Conflict("The subscription is canceled.", reasons=("SUBSCRIPTION_CANCELED",))
        return SubscriptionPaymentMethodChanged(payment_method_id=payment_method_id)

    return _change(deps, ctx, subscription_id, decide)


def bill_cycle(deps: Deps, ctx: Context, subscription_id: str, cycle_number: int | None) -> CycleResult:
    """Create the cycle's order and invoice once, then charge the subscription's card."""
    load_owned(deps.store, ctx, Subscription, subscription_id)  # another organization's: not found
    sub = get_subscription(deps, ctx, subscription_id)
    if cycle_number is not None and cycle_number not in sub.cycles and cycle_number != sub.next_cycle:
        raise InvalidCommand(f"The next cycle to bill is {sub.next_cycle}.", field="cycle_number")
    created = create_cycle(deps, ctx, subscription_id, cycle_number)
    assert created is not None  # the manual path always bills
    number, order_id, invoice_id, is_new = created
    if is_new:
        charge_now(deps, ctx, subscription_id, number)
    elif get_invoice(deps, ctx, invoice_id).status == "OPEN":
        redrive_stale(deps, ctx, invoice_id)  # billed again: finish a charge that was interrupted
    return CycleResult(
        get_subscription(deps, ctx, subscription_id),
        get_order(deps, ctx, order_id),
        get_invoice(deps, ctx, invoice_id),
        is_new,
    )
