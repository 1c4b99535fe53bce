"""The full CS view and "explain": the projection's history half plus what the catalog says now."""

from __future__ import annotations

from typing import Any

from adapters.eventstore import LedgerStore, stable_id
from domain.catalog import Product
from domain.explain import Explanation, explain
from domain.invoices import Invoice
from domain.orders import Order
from domain.parties import Organization, Patient
from domain.support import catalog_view
from replay.history import fold_events, load, order_stream


def products_of(store: LedgerStore, order: Order) -> dict[str, Product]:
    found = (load(store, Product, line.product_id) for line in order.placed.lines)
    return {p.id: p for p in found if p is not None}


def active_gateway(store: LedgerStore, organization_id: str) -> str:
    org = load(store, Organization, str(stable_id("organization", organization_id)))
    return org.active_gateway if org is not None else ""


def complete_view(
    store: LedgerStore, organization_id: str, order_id: str, history: dict[str, Any]
) -> dict[str, Any]:
    """Add the refill block (what the catalog and the patient say now) to the projection's document."""
    events = order_stream(store, organization_id, order_id)
    order: Order = fold_events("order", order_id, events)
    patient = load(store, Patient, order.patient_id)
    refill = catalog_view(
        order,
        products_of(store, order),
        patient,
        active_gateway(store, organization_id),
    )
    return {**history, "refill": refill}


def explain_order(store: LedgerStore, organization_id: str, order_id: str) -> Explanation:
    events = order_stream(store, organization_id, order_id)
    order: Order = fold_events("order", order_id, events)
    invoice = load(store, Invoice, order.placed.invoice_id)
    return explain(order, invoice)
