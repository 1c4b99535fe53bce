"""Which fold rebuilds which aggregate: the one table replay, projections and the app share.

Each aggregate is also known by the type of the state its fold returns (`Order` is "order"), so a
loader asked for `Order` knows which stream type to expect and hands back an `Order`.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable
from typing import Any

from domain import (
    catalog,
    escalations,
    idempotency,
    invoices,
    orders,
    parties,
    refills,
    subscriptions,
    timers,
)
from domain.clinic import cart, directory, pharmacies, quickfills
from domain.events import Fact
from domain.webhooks import evolve_webhook

Evolve = Callable[[Any, Fact, str], Any]

EVOLVERS: dict[str, Evolve] = {
    "product": catalog.evolve_product,
    "sku_claim": catalog.evolve_sku_claim,
    "organization": parties.evolve_organization,
    "patient": parties.evolve_patient,
    "order": orders.evolve_order,
    "invoice": invoices.evolve_invoice,
    "refill": refills.evolve_refill,
    "subscription": subscriptions.evolve_subscription,
    "timer": timers.evolve_timer,
    "idempotency_key": idempotency.evolve_claim,
    "idempotent_request": idempotency.evolve_idempotent_request,
    "clinic": directory.evolve_clinic,
    "clinic_user": directory.evolve_clinic_user,
    "prescriber": directory.evolve_prescriber,
    "pharmacy": pharmacies.evolve_pharmacy,
    "cart": cart.evolve_cart,
    "quickfill": quickfills.evolve_quickfill,
    "webhook": evolve_webhook,
    "escalations": escalations.evolve_escalations,
}


_BY_STATE: dict[type, str] = {}


def register_aggregate(aggregate_type: str, evolve: Evolve) -> None:
    """Feature modules (clinic cart, …) add their own folds without touching this table's users."""
    EVOLVERS[aggregate_type] = evolve
    _BY_STATE.clear()


def evolver(aggregate_type: str) -> Evolve:
    return EVOLVERS[aggregate_type]


def aggregate_type_of(state_type: type) -> str:
    """The stream type whose fold returns `state_type` (read from each evolver's return annotation)."""
    if not _BY_STATE:
        for name, evolve in list(EVOLVERS.items()):
            returned = typing.get_type_hints(evolve).get("return")
            if isinstance(returned, type):
                _BY_STATE[returned] = name
    try:
        return _BY_STATE[state_type]
    except KeyError:
        raise LookupError(f"no aggregate folds to {state_type.__name__}") from None


def fold(aggregate_type: str, aggregate_id: str, facts: Iterable[Fact]) -> Any:
    evolve = EVOLVERS[aggregate_type]
    state: Any = None
    for fact in facts:
        state = evolve(state, fact, aggregate_id)
    return state
