"""The fulfillment gate and the pharmacy submitter: two policies, each with its own tracking position.

Exactly once, across crashes:
- The gate appends `FulfillmentReleased` together with its tracking position, in one transaction,
  at the order's expected version, and only when the order is not released yet: at most one release.
- The submitter calls the pharmacy keyed by OUR order id (the partner dedupes on it), then appends
  `PharmacyOrderSubmitted` together with its own tracking position. Killed between the call and the
  record, it restarts from the release it had not recorded, calls again with the same key, gets the
  existing pharmacy order back, and records it: one pharmacy order, one record.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence

import structlog

from adapters.eventstore import ConcurrentWrite
from adapters.pharmacy import (
    PharmacyClient,
    PharmacyLine,
    PharmacyOrder,
    PharmacyRejected,
    PharmacyUnavailable,
)
from domain.events import Fact
from domain.gate import GateFacts, facts_to_record, route
from domain.orders import Order, PharmacyOrderSubmitted, PharmacySubmissionFailed
from domain.parties import Patient
from service.clinic.routing import route_clinic_order
from service.deps import MAX_WRITE_RETRIES, Deps
from service.medical_review import current_products
from service.unit import Context, Loaded, load, try_load

log = structlog.get_logger(__name__)

GATE = "fulfillment_gate"
SUBMITTER = "pharmacy_submitter"
# Test hook for the crash test: die right after the pharmacy answered, before anything is recorded.
CRASH_ENV = "LEDGER_TEST_CRASH_AFTER_PHARMACY_CALL"


class SubmissionDeferred(Exception):
    """The pharmacy could not be reached: leave the release unhandled and try again later."""


def gate_facts(deps: Deps, ctx: Context, order: Order, configured_partners: frozenset[str]) -> GateFacts:
    invoice = try_load(deps.store, "invoice", order.placed.invoice_id)
    return GateFacts(
        order=order,
        invoice_status=invoice.state.status if invoice else "OPEN",
        products=current_products(deps, order),
        configured_partners=configured_partners,
        clinic_route=route_clinic_order(deps, ctx, order),
    )


def append_tracked(deps: Deps, events: Sequence[object], tracking: tuple[str, int] | None) -> bool:
    """Append events with a tracking position; False when that position was handled already."""
    try:
        position = deps.store.append(events, tracking=tracking)  # type: ignore[arg-type]
    except ConcurrentWrite:
        if tracking is not None and deps.store.tracked_position(tracking[0]) >= tracking[1]:
            return False  # another worker handled this notification
        raise
    if events:
        for hook in deps.after_commit:
            hook(position)
    return True


def _with_retries(step: object) -> None:
    assert callable(step)
    for _ in range(MAX_WRITE_RETRIES):
        try:
            step()
            return
        except ConcurrentWrite:
            continue  # the order moved on while we decided: decide again on the new state
    raise ConcurrentWrite("too many concurrent changes")


def evaluate_gate(
    deps: Deps,
    ctx: Context,
    order_id: str,
    configured_partners: frozenset[str],
    tracking: tuple[str, int] | None = None,
) -> list[Fact]:
    """Decide and record release / hold for one order; returns what was recorded."""
    recorded: list[Fact] = []

    def step() -> None:
        recorded.clear()
        loaded = try_load(deps.store, "order", order_id)
        if loaded is None:
            append_tracked(deps, [], tracking)
            return
        facts = facts_to_record(gate_facts(deps, ctx, loaded.state, configured_partners))
        batch = deps.batch(ctx)
        batch.extend(loaded, *facts)
        if append_tracked(deps, batch.events, tracking):
            recorded.extend(facts)

    _with_retries(step)
    for fact in recorded:
        log.info("gate.decided", order_id=order_id, decision=fact.TYPE)
    return recorded


def submit_released(
    deps: Deps,
    ctx: Context,
    order_id: str,
    clients: Mapping[str, PharmacyClient],
    tracking: tuple[str, int] | None = None,
) -> str:
    """Send a released order to its pharmacy once; returns what happened."""
    loaded = try_load(deps.store, "order", order_id)
    order: Order | None = loaded.state if loaded else None
    if order is None or not order.fulfillment_released or order.pharmacy_submitted:
        append_tracked(deps, [], tracking)
        return "nothing_to_do"
    partner = order.fulfillment_partner or ""
    client = clients.get(partner)
    routed = route(gate_facts(deps, ctx, order, frozenset(clients)))
    if client is None or routed is None:
        _record(
            deps,
            ctx,
            order_id,
            PharmacySubmissionFailed(
                partner=partner, error="No pharmacy client or routing for this order now."
            ),
            tracking,
        )
        return "failed"
    patient: Patient = load(deps.store, "patient", order.patient_id).state
    request = PharmacyOrder(
        order_id=order.id,
        partner=partner,
        patient_ref=order.patient_id,
        patient_state=patient.state,
        lines=tuple(PharmacyLine(p.product_code, p.quantity, p.sig) for p in routed[1]),
    )
    try:
        submission = client.submit_order(request)
    except PharmacyRejected as exc:
        _record(
            deps,
            ctx,
            order_id,
            PharmacySubmissionFailed(
                partner=partner, error=f"The pharmacy refused the order: {exc.code}: {exc.message}"
            ),
            tracking,
        )
        return "rejected"
    except PharmacyUnavailable as exc:
        if order.pharmacy_error is None:  # say so once (visible to CS), then keep retrying quietly
            _record(
                deps,
                ctx,
                order_id,
                PharmacySubmissionFailed(partner=partner, error=f"The pharmacy could not be reached: {exc}"),
                None,
            )
        raise SubmissionDeferred(str(exc)) from exc
    if os.environ.get(CRASH_ENV) == "1":
        os.kill(os.getpid(), signal.SIGKILL)
    _record(
        deps,
        ctx,
        order_id,
        PharmacyOrderSubmitted(partner=partner, external_id=submission.external_id),
        tracking,
    )
    log.info("pharmacy.submitted", order_id=order_id, partner=partner, created=submission.created)
    return "submitted"


def _record(deps: Deps, ctx: Context, order_id: str, fact: Fact, tracking: tuple[str, int] | None) -> None:
    def step() -> None:
        loaded: Loaded = load(deps.store, "order", order_id)
        if isinstance(fact, PharmacyOrderSubmitted) and loaded.state.pharmacy_submitted:
            append_tracked(deps, [], tracking)  # a concurrent submitter recorded it
            return
        batch = deps.batch(ctx)
        batch.extend(loaded, fact)
        append_tracked(deps, batch.events, tracking)

    _with_retries(step)
