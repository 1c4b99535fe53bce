"""The payment reconciler: finish every charge attempt whose outcome was never recorded.

A worker step (run by the policy worker beside the policies). It reads `PaymentAttempted` facts
from a low-water mark, the position before the oldest attempt that may still be pending, kept as
its tracking position. An attempt pending longer than `Deps.pending_after` is taken over and
re-driven (`service.payments.redrive_stale`): the gateway is asked what happened under the
attempt's own idempotency key, and charged under that key only when it never saw it. The mark
moves past every attempt that has an outcome, so a pass reads little more than the new attempts.
An attempt the gateway cannot settle yet (unreachable) holds the mark and is asked again after
`pending_after`; `/ops/stuck` shows it as needing action meanwhile.
"""

from __future__ import annotations

import contextlib

import structlog

from adapters.eventstore import ConcurrentWrite, decode_notification
from domain.events import Actor, Recorded
from domain.invoices import Invoice, PaymentAttempted
from service.deps import Deps
from service.payments import redrive_stale
from service.unit import Context, try_load

log = structlog.get_logger(__name__)

RECONCILER = "payment_reconciler"


def _ctx(event: Recorded) -> Context:
    return Context(
        Actor(kind="policy", id=RECONCILER),
        event.meta.organization_id,
        event.meta.correlation_id,
        str(event.meta.event_id),
    )


def _pending(invoice: Invoice | None, number: int) -> bool:
    if invoice is None or invoice.status != "OPEN":
        return False  # paid by another attempt, voided or refunded: nothing left to charge
    return any(a.number == number and a.outcome == "pending" for a in invoice.attempts)


def reconcile_payments(deps: Deps, *, page: int = 500, max_pages: int = 20) -> int:
    """One reconciliation pass; returns how many interrupted attempts it re-drove."""
    mark = deps.store.tracked_position(RECONCILER)
    after, holding, redriven = mark, False, 0
    done: set[str] = set()
    for _ in range(max_pages):
        notes = deps.store.notifications(after, page, ("PaymentAttempted",))
        for note in notes:
            after = note.id
            event = decode_notification(note)
            assert isinstance(event.fact, PaymentAttempted)
            invoice_id = str(event.originator_id)
            loaded = try_load(deps.store, "invoice", invoice_id)
            if loaded is not None and invoice_id not in done and _pending(loaded.state, event.fact.attempt):
                done.add(invoice_id)
                if redrive_stale(deps, _ctx(event), invoice_id) is not None:
                    redriven += 1
                loaded = try_load(deps.store, "invoice", invoice_id)
            if _pending(loaded.state if loaded else None, event.fact.attempt):
                holding = True  # not settled yet: the mark stays before it
            elif not holding:
                mark = note.id
        if len(notes) < page:
            break
    if mark > deps.store.tracked_position(RECONCILER):
        with contextlib.suppress(ConcurrentWrite):  # another worker moved it first
            deps.store.append([], tracking=(RECONCILER, mark))
    if redriven:
        log.info("payments.reconciled", redriven=redriven)
    return redriven
