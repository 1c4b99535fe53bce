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
    r = ledger.call(
        "POST",
        "/orders",
        "staff",
        json={"patient_id": patient["id"], "lines": [{"product_id": product["id"], "quantity": 1}]},
    )
    assert r.status_code == 201, r.text
    order_id, invoice_id = r.json()["order"]["id"], r.json()["invoice"]["id"]
    deps = ledger.runtime.deps
    store = deps.store
    inner = store.stream
    paid: list[int] = []

    def stream(aggregate_id: UUID, **kw: Any) -> list[Recorded]:
        # The first read of the invoice waits for the payment: the order was read before it.
        if aggregate_id == UUID(invoice_id) and not paid:
            paid.append(1)
            store.stream = inner  # type: ignore[method-assign]
            r = ledger.call(
                "POST",
                f"/invoices/{invoice_id}/payments",
                "staff",
                json={"payment_method_id": patient["cards"][0]},
            )
            assert r.status_code == 200, r.text
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
