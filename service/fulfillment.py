"""The fulfillment gate and the pharmacy submitter: two policies, each with its own tracking position.

Exactly once, across crashes:
- The gate appends `FulfillmentReleased` together with its tracking position, in one transaction,
  at the order's expected version, and only when the order is not released yet: at most one release.
- The submitter asks the gate again on the current facts, calls the pharmacy keyed by OUR order
  id (the partner dedupes on it), then appends `PharmacyOrderSubmitted` together with its own
  tracking position, at the version it decided on. Killed between the call and the
  record, it restarts from the release it had not recorded, calls again with the same key, gets the
  existing pharmacy order back, and records it: one pharmacy order, one record.
- The canceller asks the pharmacy to stop an order refunded or canceled after its submission and
  records what the pharmacy said (`domain.pharmacy_cancellation` is the condition it acts on).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import structlog

from adapters.crashpoint import AFTER_PHARMACY_CALL, AFTER_RELEASE, crash_point
from adapters.eventstore import ConcurrentWrite
from adapters.pharmacy import (
    PharmacyClient,
    PharmacyLine,
    PharmacyOrder,
    PharmacyRejected,
    PharmacyUnavailable,
)
from domain.clinic.routing import ClinicRoute
from domain.events import Fact
from domain.gate import PHARMACY_CONFIGURED, GateFacts, Hold, decide, facts_to_record, route
from domain.invoices import Invoice
from domain.orders import (
    FulfillmentReleased,
    Order,
    PharmacyCancellationFailed,
    PharmacyCancellationRequested,
    PharmacyOrderSubmitted,
    PharmacySubmissionFailed,
    PharmacySubmissionWithheld,
)
from domain.parties import Patient
from domain.pharmacy_cancellation import needs_pharmacy_cancellation
from domain.resubmission import pharmacy_reference
from service.clinic.routing import pharmacy_prescriber, route_clinic_order
from service.deps import MAX_WRITE_RETRIES, Deps
from service.medical_review import current_products
from service.unit import Context, Loaded, load, try_load

log = structlog.get_logger(__name__)

GATE = "fulfillment_gate"
SUBMITTER = "pharmacy_submitter"
CANCELLER = "pharmacy_canceller"


class SubmissionDeferred(Exception):
    """The pharmacy could not be reached: leave the release unhandled and try again later."""


def gate_facts(deps: Deps, ctx: Context, order: Order, configured_partners: frozenset[str]) -> GateFacts:
    invoice = try_load(deps.store, Invoice, order.placed.invoice_id)
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
        loaded = try_load(deps.store, Order, order_id)
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
        if isinstance(fact, FulfillmentReleased):
            crash_point(AFTER_RELEASE)
    return recorded


def submit_released(
    deps: Deps,
    ctx: Context,
    order_id: str,
    clients: Mapping[str, PharmacyClient],
    tracking: tuple[str, int] | None = None,
    *,
    attempt_key: str | None = None,
) -> str:
    """Send a released order to its pharmacy once, deciding at the moment it submits; returns what
    happened (nothing_to_do | withheld | failed | rejected | submitted).

    The gate is asked again on the current facts (paid, open, prescription…): a refund or cancel
    recorded since the release withholds the submission. The submission is then recorded at the
    version those facts were read at, so a refund that lands while the pharmacy call is in flight
    is not missed: the submission is recorded (it happened) and the canceller asks the pharmacy to
    stop it. `attempt_key` is what the pharmacy dedupes on (default: our order id); a resubmission
    after a rejection passes a new one and may submit an order that was submitted before.
    """
    loaded = try_load(deps.store, Order, order_id)
    order: Order | None = loaded.state if loaded else None
    if (
        loaded is None
        or order is None
        or not order.fulfillment_released
        or (order.pharmacy_submitted and attempt_key is None)
    ):
        append_tracked(deps, [], tracking)
        return "nothing_to_do"
    facts = gate_facts(deps, ctx, order, frozenset(clients))
    decision = decide(facts)
    if isinstance(decision, Hold) and set(decision.checks_failed) - {PHARMACY_CONFIGURED}:
        _record(
            deps, ctx, order_id, PharmacySubmissionWithheld(failed_checks=decision.checks_failed), tracking
        )
        log.warning("pharmacy.withheld", order_id=order_id, failed_checks=list(decision.checks_failed))
        return "withheld"
    partner = order.fulfillment_partner or ""
    client = clients.get(partner)
    routed = route(facts)
    if client is None or routed is None:
        _record(
            deps,
            ctx,
            order_id,
            PharmacySubmissionFailed(
                partner=partner, error="No pharmacy client or routing for this order now.", permanent=True
            ),
            tracking,
        )
        return "failed"
    patient: Patient = load(deps.store, Patient, order.patient_id).state
    clinic_route = facts.clinic_route
    controlled = (
        {ln.product_code for ln in clinic_route.lines if ln.controlled}
        if isinstance(clinic_route, ClinicRoute)
        else set()
    )
    request = PharmacyOrder(
        order_id=attempt_key or pharmacy_reference(order),  # a resubmission goes under a new key
        partner=partner,
        patient_ref=order.patient_id,
        patient_state=patient.state,
        lines=tuple(
            PharmacyLine(p.product_code, p.quantity, p.sig, p.product_code in controlled) for p in routed[1]
        ),
        prescriber=pharmacy_prescriber(deps, ctx, order, facts.clinic_route),
    )
    try:
        submission = client.submit_order(request)
    except PharmacyRejected as exc:
        _record(
            deps,
            ctx,
            order_id,
            PharmacySubmissionFailed(
                partner=partner,
                error=f"The pharmacy refused the order: {exc.code}: {exc.message}",
                permanent=True,
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
    crash_point(AFTER_PHARMACY_CALL)
    submitted = PharmacyOrderSubmitted(partner=partner, external_id=submission.external_id)
    if not _record_at(deps, ctx, loaded, submitted, tracking):
        # The order moved while the pharmacy worked (a refund, a cancel, a webhook): record the
        # submission on the new state; the canceller sees a closed order and asks to stop it.
        _record(deps, ctx, order_id, submitted, tracking, resubmission=attempt_key is not None)
    log.info("pharmacy.submitted", order_id=order_id, partner=partner, created=submission.created)
    return "submitted"


def cancel_if_closed(
    deps: Deps,
    ctx: Context,
    order_id: str,
    clients: Mapping[str, PharmacyClient],
    tracking: tuple[str, int] | None = None,
) -> str:
    """Ask the pharmacy to stop an order refunded or canceled after it was submitted; returns what
    happened (nothing_to_do | requested | refused). Unreachable: deferred, asked again later."""
    loaded = try_load(deps.store, Order, order_id)
    if loaded is None or not needs_pharmacy_cancellation(loaded.state):
        append_tracked(deps, [], tracking)
        return "nothing_to_do"
    order: Order = loaded.state
    partner = order.fulfillment_partner or ""
    client = clients.get(partner)
    fact: Fact
    if client is None:
        fact = PharmacyCancellationFailed(partner=partner, error="No pharmacy client is configured.")
    else:
        try:
            result = client.cancel_order(pharmacy_reference(order))
            fact = PharmacyCancellationRequested(partner=partner, canceled=result.canceled)
        except PharmacyRejected as exc:
            fact = PharmacyCancellationFailed(partner=partner, error=f"{exc.code}: {exc.message}")
        except PharmacyUnavailable as exc:
            raise SubmissionDeferred(str(exc)) from exc
    _record(deps, ctx, order_id, fact, tracking)
    log.warning("pharmacy.cancellation", order_id=order_id, partner=partner, outcome=fact.TYPE)
    return "requested" if isinstance(fact, PharmacyCancellationRequested) else "refused"


def _record_at(
    deps: Deps, ctx: Context, loaded: Loaded[Order], fact: Fact, tracking: tuple[str, int] | None
) -> bool:
    """Append at the version the decision was made on; False when the order moved meanwhile."""
    batch = deps.batch(ctx)
    batch.extend(loaded, fact)
    try:
        append_tracked(deps, batch.events, tracking)  # False there: another worker recorded it
    except ConcurrentWrite:
        return False
    return True


def _record(
    deps: Deps,
    ctx: Context,
    order_id: str,
    fact: Fact,
    tracking: tuple[str, int] | None,
    *,
    resubmission: bool = False,
) -> None:
    def step() -> None:
        loaded: Loaded[Order] = load(deps.store, Order, order_id)
        state: Order = loaded.state
        already = (
            isinstance(fact, PharmacyOrderSubmitted) and state.pharmacy_submitted and not resubmission
        ) or (
            isinstance(fact, PharmacyCancellationRequested | PharmacyCancellationFailed)
            and not needs_pharmacy_cancellation(state)
        )
        if already:
            append_tracked(deps, [], tracking)  # a concurrent worker recorded it
            return
        batch = deps.batch(ctx)
        batch.extend(loaded, fact)
        append_tracked(deps, batch.events, tracking)

    _with_retries(step)
