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
from domain.errors import Conflict
from domain.events import Actor, Recorded
from domain.invoices import Invoice, PaymentAttempted
from domain.parties import Patient
from domain.refills import RefillRequested
from service.deps import Deps
from service.payments import charge_invoice, redrive_stale
from service.unit import Context, try_load

log = structlog.get_logger(__name__)

RECONCILER = "payment_reconciler"
UNCHARGED = "payment_reconciler_refills"  # its mark over refills whose invoice was never charged


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
    """One reconciliation pass; returns how many interrupted attempts it re-drove or started."""
    return _redrive_pending(deps, page, max_pages) + _charge_uncharged_refills(deps, page)


def _charge_uncharged_refills(deps: Deps, page: int) -> int:
    """Refills recorded before a refill's attempt joined its own commit may have an open invoice that
    was never charged (a crash right after the batch): charge them once, as the patient asked."""
    mark, started = deps.store.tracked_position(UNCHARGED), 0
    notes = deps.store.notifications(mark, page, ("RefillRequested",))
    for note in notes:
        event = decode_notification(note)
        assert isinstance(event.fact, RefillRequested)
        loaded = try_load(deps.store, Invoice, event.fact.invoice_id)
        invoice: Invoice | None = loaded.state if loaded else None
        if invoice is not None and invoice.status == "OPEN" and not invoice.attempts:
            if deps.clock() - event.meta.occurred_at < deps.pending_after:
                break  # its request may still be running: look again next pass
            patient = try_load(deps.store, Patient, event.fact.patient_id)
            method = patient.state.method(event.fact.payment_method_id) if patient else None
            if method is not None:
                with contextlib.suppress(Conflict):  # someone started one meanwhile: theirs stands
                    charge_invoice(deps, _ctx(event), invoice.id, method)
                    started += 1
        mark = note.id
    if notes and mark > deps.store.tracked_position(UNCHARGED):
        with contextlib.suppress(ConcurrentWrite):
            deps.store.append([], tracking=(UNCHARGED, mark))
    return started


def _redrive_pending(deps: Deps, page: int, max_pages: int) -> int:
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
            loaded = try_load(deps.store, Invoice, invoice_id)
            if loaded is not None and invoice_id not in done and _pending(loaded.state, event.fact.attempt):
                done.add(invoice_id)
                if redrive_stale(deps, _ctx(event), invoice_id) is not None:
                    redriven += 1
                loaded = try_load(deps.store, Invoice, invoice_id)
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
