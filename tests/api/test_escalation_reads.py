"""An order's escalation facts are read stream by stream; a commit landing between two reads must
not look half-written (issue 10: no false CHARGED_BUT_NOT_UPDATED while a payment is recorded)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from domain.escalations import evaluate
from domain.events import Recorded
from service.escalations import gather
from tests.support.app import Ledger


def test_a_payment_recorded_between_the_order_and_invoice_reads_is_not_charged_but_not_updated(
    ledger: Ledger,
) -> None:
    product = ledger.product()
    patient = ledger.patient()
    placed = ledger.placed_order(patient, [(product["id"], 1)])
    order_id, invoice_id = placed["order"]["id"], placed["invoice"]["id"]
    deps = ledger.runtime.deps
    store = deps.store
    inner = store.stream
    paid: list[int] = []

    def stream(aggregate_id: UUID, **kw: Any) -> list[Recorded]:
        # The first read of the invoice waits for the payment: the order was read before it.
        if aggregate_id == UUID(invoice_id) and not paid:
            paid.append(1)
            store.stream = inner  # type: ignore[method-assign]
            ledger.pay(patient, invoice_id)
            store.stream = stream  # type: ignore[method-assign]
        return inner(aggregate_id, **kw)

    store.stream = stream  # type: ignore[method-assign]
    try:
        facts = gather(deps, order_id, deps.clock(), timedelta(minutes=5))
    finally:
        store.stream = inner  # type: ignore[method-assign]
    assert paid, "the invoice was read after the order"
    assert facts is not None and facts.invoice is not None and facts.invoice.succeeded_attempt is not None
    assert facts.order.paid
    assert "CHARGED_BUT_NOT_UPDATED" not in evaluate(facts)
