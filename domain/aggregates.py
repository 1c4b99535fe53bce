"""Which fold rebuilds which aggregate: the one table replay, projections and the app share."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from domain import catalog, idempotency, invoices, orders, parties, refills, subscriptions, timers
from domain.clinic import cart, directory, pharmacies, quickfills
from domain.events import Fact
from domain.webhooks import evolve_webhook

Evolve = Callable[[Any, Fact, str], Any]

EVOLVERS: dict[str, Evolve] = {
    "product": catalog.evolve_product,
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
}


def register_aggregate(aggregate_type: str, evolve: Evolve) -> None:
    """Feature modules (clinic cart, …) add their own folds without touching this table's users."""
    EVOLVERS[aggregate_type] = evolve


def fold(aggregate_type: str, aggregate_id: str, facts: Iterable[Fact]) -> Any:
    evolve = EVOLVERS[aggregate_type]
    state: Any = None
    for fact in facts:
        state = evolve(state, fact, aggregate_id)
    return state
