"""The subscription processor's way in: start a subscription, bill its cycles."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import InvalidCommand
from domain.invoices import Invoice
from domain.orders import Order
from domain.subscriptions import Subscription, SubscriptionCycleBilled, SubscriptionStarted
from service.catalog import get_patient, get_product
from service.deps import Deps, retry_on_conflict
from service.orders import get_invoice, get_order, line_for, stage_order
from service.payments import drive_attempt, redrive_stale, usable_method
from service.unit import Context, load_owned


@dataclass(frozen=True)
class CycleResult:
    subscription: Subscription
    order: Order
    invoice: Invoice
    created: bool


def start_subscription(
    deps: Deps, ctx: Context, *, patient_id: str, product_id: str, payment_method_id: str, interval_days: int
) -> Subscription:
    patient = get_patient(deps, ctx, patient_id)
    get_product(deps, ctx, product_id)
    usable_method(patient, payment_method_id)
    if interval_days < 1:
        raise InvalidCommand("interval_days must be at least 1.", field="interval_days")
    sub_id = deps.new_uuid()
    batch = deps.batch(ctx)
    batch.start(
        sub_id,
        SubscriptionStarted(
            patient_id=patient_id,
            product_id=product_id,
            payment_method_id=payment_method_id,
            interval_days=interval_days,
        ),
    )
    deps.commit(batch)
    return get_subscription(deps, ctx, str(sub_id))


def get_subscription(deps: Deps, ctx: Context, subscription_id: str) -> Subscription:
    state = load_owned(deps.store, ctx, "subscription", subscription_id).state
    assert isinstance(state, Subscription)
    return state


def bill_cycle(deps: Deps, ctx: Context, subscription_id: str, cycle_number: int | None) -> CycleResult:
    """Create the cycle's order and invoice once, then charge the subscription's card."""

    def attempt() -> tuple[str, str, bool]:
        loaded = load_owned(deps.store, ctx, "subscription", subscription_id)
        sub: Subscription = loaded.state
        number = cycle_number or sub.next_cycle
        if number in sub.cycles:
            order_id, invoice_id = sub.cycles[number]
            return order_id, invoice_id, False
        if number != sub.next_cycle:
            raise InvalidCommand(f"The next cycle to bill is {sub.next_cycle}.", field="cycle_number")
        patient = get_patient(deps, ctx, sub.started.patient_id)
        product = get_product(deps, ctx, sub.started.product_id)
        method = usable_method(patient, sub.started.payment_method_id)
        batch = deps.batch(ctx)
        order_id, invoice_id = stage_order(
            deps,
            batch,
            patient,
            [line_for(product, 1)],
            source="SUBSCRIPTION",
            source_context="SUBSCRIPTION_CYCLE",
            currency=product.currency,
            charge_with=method,
            subscription_id=subscription_id,
            cycle_number=number,
        )
        batch.extend(
            loaded, SubscriptionCycleBilled(cycle_number=number, order_id=order_id, invoice_id=invoice_id)
        )
        deps.commit(batch)
        return order_id, invoice_id, True

    order_id, invoice_id, created = retry_on_conflict(attempt)
    sub = get_subscription(deps, ctx, subscription_id)
    invoice = get_invoice(deps, ctx, invoice_id)
    if created:
        drive_attempt(deps, ctx, invoice_id, 1, ask_first=False)
    elif invoice.status == "OPEN":
        redrive_stale(deps, ctx, invoice_id)  # billed again: finish a charge that was interrupted
    return CycleResult(sub, get_order(deps, ctx, order_id), get_invoice(deps, ctx, invoice_id), created)
