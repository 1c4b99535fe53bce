"""The escalation policy: re-evaluate the orders an event touches and record what was raised or resolved.

Run by the policy worker (`service/policies.py`, policy `escalations`) on every order, invoice and refill
event, and by a periodic sweep for conditions that come due with time alone (a charge left pending).
Idempotent: each order's escalations live in one stream (`stable_id("escalations", order_id)`), the
decision compares what holds now with what is open, and the events are appended at the version read
together with the worker's tracking position, so a notification read twice, or two workers deciding at
once, never raise the same escalation twice. Conditions: `domain/escalation_conditions.py`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import structlog

from adapters.eventstore import ConcurrentWrite, LedgerStore, stable_id
from domain.aggregates import fold
from domain.catalog import Product
from domain.escalations import OrderEscalations, OrderFacts, decide, evaluate
from domain.events import Actor, Fact, Recorded
from domain.invoices import Invoice
from domain.orders import Order
from domain.refills import Refill
from domain.subscriptions import Subscription
from projections.db import ViewDatabase
from projections.stuck import orders_waiting_on_payment
from service.deps import Deps
from service.unit import Context, try_load

log = structlog.get_logger(__name__)

POLICY = "escalations"
# Which events can change a condition: every fact of these aggregates. A condition reading another
# aggregate adds its type here (and says in `affected_orders` which orders it touches).
TRIGGER_AGGREGATES = ("order", "invoice", "refill", "subscription")
MAX_RETRIES = 20


def stream_id(order_id: str) -> UUID:
    return stable_id("escalations", order_id)


S = TypeVar("S")
Memo = dict[tuple[type, str], Any]  # states already read while one event's orders are found


def _state(store: LedgerStore, kind: type[S], aggregate_id: str | None, memo: Memo | None = None) -> S | None:
    if not aggregate_id:
        return None
    if memo is not None and (kind, aggregate_id) in memo:
        remembered: S | None = memo[(kind, aggregate_id)]
        return remembered
    loaded = try_load(store, kind, aggregate_id)
    state = loaded.state if loaded is not None else None
    if memo is not None:
        memo[(kind, aggregate_id)] = state
    return state


def _product_then(store: LedgerStore, order: Order) -> Product | None:
    """The refill product as the catalog had it when the order was placed (price, active flag)."""
    product_id = order.placed.refill_product_id or (
        order.placed.lines[0].product_id if order.placed.lines else None
    )
    if not product_id:
        return None
    try:
        events = store.stream(UUID(product_id))
    except ValueError:
        return None
    then = [e.fact for e in events if e.meta.occurred_at <= order.placed.placed_at]
    if not then or events[0].aggregate_type != "product":
        return None
    state = fold("product", product_id, then)
    return state if isinstance(state, Product) else None


def gather(deps: Deps, order_id: str, now: datetime, pending_after: timedelta) -> OrderFacts | None:
    """Load everything a condition may read about one order (None when there is no such order)."""
    store = deps.store
    order = _state(store, Order, order_id)
    if order is None:
        return None
    invoice = _state(store, Invoice, order.placed.invoice_id)
    original = _state(store, Order, order.placed.refill_of_order_id)
    refill = None
    if original is not None:
        opened = next((r for r in original.refills if r.refill_order_id == order.id), None)
        refill = _state(store, Refill, opened.refill_id) if opened else None
    refill_invoices: dict[str, Invoice] = {}
    for holder in (original, order):
        for r in holder.refills if holder is not None else ():
            inv = _state(store, Invoice, r.invoice_id)
            if inv is not None:
                refill_invoices[r.invoice_id] = inv
    products = {}
    for line in order.placed.lines:
        product = _state(store, Product, line.product_id)
        if product is not None:
            products[product.id] = product
    # The streams above are read one after another, not at one instant. A payment recorded between
    # the order's read and the invoice's would show a paid invoice beside an unpaid order, though
    # one commit wrote both. Read last, the order holds every commit the other reads saw.
    order = _state(store, Order, order_id) or order
    return OrderFacts(
        order=order,
        invoice=invoice,
        now=now,
        refill=refill,
        original=original,
        refill_invoices=refill_invoices,
        product_then=_product_then(store, order),
        products=products,
        pending_charge_after=pending_after,
        subscription=_subscription(store, order),
    )


def _subscription(store: LedgerStore, order: Order) -> Subscription | None:
    return _state(store, Subscription, order.placed.subscription_id)


def affected_orders(deps: Deps, event: Recorded, memo: Memo | None = None) -> list[str]:
    """The orders whose conditions this event may change: its own, the original it refills and the
    original's other refills (the duplicate-refill check reads siblings' invoices)."""
    store = deps.store
    direct: list[str] = []
    if event.aggregate_type == "order":
        direct = [str(event.originator_id)]
    elif event.aggregate_type == "invoice":
        invoice = _state(store, Invoice, str(event.originator_id), memo)
        direct = list(invoice.issued.order_ids) if invoice is not None else []
    elif event.aggregate_type == "subscription":  # dunning: the cycle orders it billed
        sub = _state(store, Subscription, str(event.originator_id), memo)
        direct = [order_id for order_id, _ in sub.cycles.values()] if sub is not None else []
    elif event.aggregate_type == "refill":
        refill = _state(store, Refill, str(event.originator_id), memo)
        if refill is not None:
            direct = [refill.requested.refill_order_id, refill.requested.original_order_id]
    found: dict[str, None] = {}
    for order_id in direct:
        found[order_id] = None
        order = _state(store, Order, order_id, memo)
        if order is None:
            continue
        found.update((r.refill_order_id, None) for r in order.refills)
        original = _state(store, Order, order.placed.refill_of_order_id, memo)
        if original is not None:
            found[original.id] = None
            found.update((r.refill_order_id, None) for r in original.refills)
    return list(found)


def evaluate_orders(
    deps: Deps,
    ctx: Context,
    order_ids: Iterable[str],
    *,
    pending_after: timedelta,
    tracking: tuple[str, int] | None = None,
) -> list[Fact]:
    """Raise and resolve what changed on these orders, in one transaction (with the tracking position)."""
    ids = list(order_ids)
    for _ in range(MAX_RETRIES):
        batch = deps.batch(ctx)
        recorded: list[Fact] = []
        for order_id in ids:
            facts = gather(deps, order_id, batch.now, pending_after)
            if facts is None:
                continue
            loaded = try_load(deps.store, OrderEscalations, stream_id(order_id))
            state = loaded.state if loaded is not None else None
            assert state is None or isinstance(state, OrderEscalations)
            new = decide(state, facts.order, evaluate(facts), deps.new_id, batch.now)
            if new:
                batch.add(stream_id(order_id), loaded.version if loaded else 0, *new)
                recorded += new
        try:
            position = deps.store.append(batch.events, tracking=tracking)
        except ConcurrentWrite:
            if tracking is not None and deps.store.tracked_position(tracking[0]) >= tracking[1]:
                return []  # another worker handled this notification
            continue  # another worker decided on one of these orders first: decide again
        if batch.events:
            for hook in deps.after_commit:
                hook(position)
            for fact in recorded:
                log.info("escalation.recorded", decision=fact.TYPE, kind=getattr(fact, "kind", None))
        return recorded
    raise ConcurrentWrite("too many concurrent changes to escalations")


def evaluate_page(
    deps: Deps,
    actor: Actor,
    events: Sequence[Recorded],
    *,
    pending_after: timedelta,
    tracking: tuple[str, int],
) -> list[Fact]:
    """A page of the log at once: each touched order is evaluated once, however many of the page's
    events touched it (a refill writes a dozen), and the tracking position goes with the last write."""
    memo: Memo = {}
    by_org: dict[str, tuple[Context, dict[str, None]]] = {}
    for event in events:
        org = event.meta.organization_id
        ctx = Context(actor, org, event.meta.correlation_id, str(event.meta.event_id))  # latest cause
        ids = by_org[org][1] if org in by_org else {}
        ids.update(dict.fromkeys(affected_orders(deps, event, memo)))
        by_org[org] = (ctx, ids)
    recorded: list[Fact] = []
    groups = list(by_org.values())
    for index, (ctx, ids) in enumerate(groups):
        last = tracking if index == len(groups) - 1 else None
        recorded += evaluate_orders(deps, ctx, ids, pending_after=pending_after, tracking=last)
    if not groups:
        with contextlib.suppress(ConcurrentWrite):
            deps.store.append([], tracking=tracking)
    return recorded


def sweep_pending_charges(
    deps: Deps, views: ViewDatabase, actor: Actor, *, pending_after: timedelta
) -> list[Fact]:
    """Re-evaluate orders whose charge has waited for an outcome longer than `pending_after`: time alone
    makes that condition hold, so no event would. The candidates come from the stuck-orders view."""
    recorded: list[Fact] = []
    by_org: dict[str, list[str]] = {}
    for org, order_id in orders_waiting_on_payment(views, deps.clock() - pending_after):
        by_org.setdefault(org, []).append(order_id)
    for org, ids in by_org.items():
        ctx = Context(actor, org, f"{POLICY}-sweep", f"{POLICY}-sweep")
        recorded += evaluate_orders(deps, ctx, ids, pending_after=pending_after)
    return recorded
