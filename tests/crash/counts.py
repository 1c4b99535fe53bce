"""What happened, counted at each party: the event store, localstripe and the pharmacy sandbox."""

from __future__ import annotations

from collections import Counter
from typing import Any
from uuid import UUID

import httpx

from adapters.dburl import eventsourcing_env, parse_database_url
from adapters.eventstore import LedgerStore
from domain.invoices import Invoice
from domain.orders import Order
from domain.status import order_status
from service.unit import load
from tests.crash.driver import STRIPE_KEY, Cluster


def store_of(c: Cluster) -> LedgerStore:
    return LedgerStore(env=eventsourcing_env(parse_database_url(c.database_url)))


def ids(store: LedgerStore, topic: str) -> list[str]:
    return list(dict.fromkeys(str(n.originator_id) for n in store.iter_notifications(topics=(topic,))))


def intents(c: Cluster) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{c.stripe_url}/v1/payment_intents",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {STRIPE_KEY}"},
        timeout=10,
    )
    r.raise_for_status()
    data: list[dict[str, Any]] = r.json()["data"]
    assert len(data) < 100  # one page holds them all
    return data


def at_pharmacy(c: Cluster) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(f"{c.pharmacy_url}/_sandbox/orders", timeout=10).json()
    return found


def settled(store: LedgerStore) -> bool:
    """Nothing left to do: no pending attempt, every paid, released, open order submitted."""
    for invoice_id in ids(store, "InvoiceIssued"):
        invoice = load(store, Invoice, invoice_id).state
        if any(a.outcome == "pending" for a in invoice.attempts):
            return False
    for order_id in ids(store, "OrderPlaced"):
        order = load(store, Order, order_id).state
        closed = order_status(order) in ("REFUNDED", "CANCELED")
        if order.paid and not closed and not (order.pharmacy_submitted or order.withheld_by):
            return False
    return True


def charged_once_or_declined(c: Cluster, store: LedgerStore, invoice_ids: list[str]) -> tuple[int, int]:
    """Every invoice has exactly one successful charge at localstripe, or none and a recorded
    decline; no attempt is pending. Returns (charged, declined)."""
    succeeded = Counter(i["metadata"].get("invoice_id") for i in intents(c) if i["status"] == "succeeded")
    charged = declined = 0
    for invoice_id in invoice_ids:
        invoice = load(store, Invoice, invoice_id).state
        assert all(a.outcome != "pending" for a in invoice.attempts), invoice_id
        if invoice.status in ("PAID", "REFUNDED"):
            assert succeeded[invoice_id] == 1, invoice_id
            charged += 1
        else:
            assert succeeded[invoice_id] == 0, invoice_id
            assert invoice.attempts[-1].outcome == "failed", invoice_id  # a recorded decline
            declined += 1
    return charged, declined


def at_pharmacy_once_if_owed(c: Cluster, store: LedgerStore) -> Counter[str]:
    """Every paid, released, open order is at the pharmacy exactly once (one submission event, one
    active pharmacy order); no refunded or cancelled order is active there. Returns the pharmacy's
    count of orders per reference (our order id)."""
    found = at_pharmacy(c)
    by_reference = Counter(str(o["referenceId"]) for o in found)
    active = {o["referenceId"] for o in found if o["status"] != "canceled"}
    for order_id in ids(store, "OrderPlaced"):
        order = load(store, Order, order_id).state
        if order_status(order) in ("REFUNDED", "CANCELED"):
            assert order_id not in active, order_id
        elif order.paid and order.fulfillment_released:
            assert by_reference[order_id] == 1, order_id
            assert order_id in active, order_id
            types = [e.fact.TYPE for e in store.stream(UUID(order_id))]
            assert types.count("PharmacyOrderSubmitted") == 1, order_id
        else:
            assert order_id not in by_reference, order_id  # unpaid: never sent
    return by_reference
