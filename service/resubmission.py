"""Send an order to its pharmacy again after a rejection or a permanent error: one use case that the
API, the console and the clinic pages all call.

It records `FulfillmentResubmitted` (who asked, why, and what the pharmacy had said) under a new
attempt key, at the order's expected version, after asking the fulfillment gate again on the order
as it would stand: a resubmission never bypasses a check. The pharmacy submitter policy then sends
it (it reads `FulfillmentResubmitted` as it reads `FulfillmentReleased`).
"""

from __future__ import annotations

import structlog

from domain.errors import Conflict
from domain.gate import Hold, decide
from domain.orders import Order, evolve_order
from domain.resubmission import resubmission, resubmit_refusals
from service.deps import Deps, retry_on_conflict
from service.fulfillment import gate_facts
from service.unit import Context, load_owned

log = structlog.get_logger(__name__)

_REFUSED = {
    "ORDER_CLOSED": "The order is canceled or refunded.",
    "ALREADY_SHIPPED": "The pharmacy has already shipped this order.",
    "NOT_PAID": "The order is not paid.",
    "NOT_RELEASED": "The fulfillment gate has not released this order to a pharmacy yet.",
    "NOTHING_TO_RESUBMIT": "The pharmacy has not rejected this order and no permanent error is recorded: "
    "it is at the pharmacy, or its answer is still awaited.",
}


def resubmit_to_pharmacy(
    deps: Deps, ctx: Context, order_id: str, reason: str, configured_partners: frozenset[str]
) -> Order:
    """Open the next pharmacy attempt for a rejected or permanently failed order; returns the order."""

    def attempt() -> Order:
        loaded = load_owned(deps.store, ctx, Order, order_id)
        order: Order = loaded.state
        refusals = resubmit_refusals(order)
        if refusals:
            raise Conflict(_REFUSED[refusals[0]], reasons=refusals)
        # Ask the gate on the order as the resubmission would leave it (the pharmacy's rejection
        # cleared): every check must pass again, and it names the partner to send to now.
        draft = resubmission(order, order.fulfillment_partner or "", reason, ctx.actor.label())
        decision = decide(gate_facts(deps, ctx, evolve_order(order, draft, order.id), configured_partners))
        if isinstance(decision, Hold):
            raise Conflict(
                "The fulfillment gate holds the order: " + ", ".join(decision.checks_failed) + ".",
                reasons=decision.checks_failed,
            )
        fact = resubmission(order, decision.partner, reason, ctx.actor.label())
        batch = deps.batch(ctx)
        batch.extend(loaded, fact)
        deps.commit(batch)
        log.info("fulfillment.resubmitted", order_id=order.id, attempt=fact.attempt, partner=fact.partner)
        return evolve_order(order, fact, order.id)

    return retry_on_conflict(attempt)
