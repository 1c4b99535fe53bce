"""The policy worker: reads the event log from each policy's tracked position and acts on it.

Policies, in the order one pass runs them:
- `webhook_processor`   re-applies every stored webhook (a no-op when the HTTP handler already did);
- `medical_review_autosubmit`   sends a paid order that reached AWAITING_SCRIPT to Beluga;
- `fulfillment_gate`    releases or holds pharmacy submission (domain.gate);
- `pharmacy_submitter`  submits released (or resubmitted) orders to their pharmacy, asking the gate again;
- `pharmacy_canceller`  asks the pharmacy to stop an order refunded or canceled after submission;
- `escalations`         raises and resolves escalations on the orders an event touches
                        (`service/escalations.py`), plus a sweep every `sweep_seconds` for the
                        conditions that come due with time alone (a charge left pending);
then the payment reconciler (`service.reconcile`) finishes charges interrupted mid-way.
Every effect is idempotent, so reading a notification twice (after a crash) changes nothing; the
gate and the submitter write their tracking position in the same transaction as their events.
A step that fails for an order is a dead letter on that order (`service.dead_letters`), retried with
backoff, never a reason to stop the stream: one partner's outage delays only that partner's orders.
`ledger.fulfillment.start_policy_worker` runs the passes as a singleton job (`adapters.singleton`): one
active worker across processes under an advisory lock, woken by LISTEN/NOTIFY on PostgreSQL and by this
process's own commits on SQLite.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from adapters.eventstore import ConcurrentWrite, decode_notification
from adapters.pharmacy import PharmacyClient
from adapters.webhook_signature import WebhookPayloadError
from domain.events import Actor, Recorded
from domain.orders import Order
from domain.webhooks import WebhookReceived
from projections.db import ViewDatabase
from projections.folding import topics_of
from service import dead_letters, escalations, fulfillment, medical_review, reconcile, webhooks
from service.dead_letters import DeadLetters
from service.deps import Deps
from service.medical_review import VisitSubmitter
from service.unit import Context, try_load

log = structlog.get_logger(__name__)

WEBHOOKS, AUTOSUBMIT = "webhook_processor", "medical_review_autosubmit"
_READY_FOR_SCRIPT = ("OrderCharged", "IntakeRecorded", "LabRequisitionRecorded", "LabResultsRecorded")
_GATE_INPUTS = (
    *_READY_FOR_SCRIPT,
    "MedicalReviewSubmitted",
    "RxWritten",
    "ConsultConcluded",
    "ConsultCanceled",
    "OrderCanceled",
    "OrderRefunded",
    "PharmacyOrderRejected",
)
MAX_FAILURES = 5  # a non-order notification (a stored webhook) failing this often is logged and skipped
PARTNER_PAUSE = timedelta(seconds=5)  # after a partner was unreachable, its other orders wait untried


@dataclass
class Policies:
    deps: Deps
    beluga: VisitSubmitter | None
    pharmacies: Mapping[str, PharmacyClient]
    page: int = 200
    reconcile_every: float = 1.0  # seconds between payment reconciler passes
    _reconciled_at: float = -1e9
    views: ViewDatabase | None = None  # the escalation sweep reads the stuck-orders view
    pending_charge_after: timedelta = timedelta(minutes=15)
    sweep_seconds: float = 30.0
    _failures: dict[tuple[str, int], int] = field(default_factory=dict)
    dead_letters: DeadLetters = field(default_factory=DeadLetters)
    _partners_down: dict[str, datetime] = field(default_factory=dict)  # partner -> paused until
    _last_sweep: float = 0.0

    def ctx(self, name: str, event: Recorded) -> Context:
        return Context(
            Actor(kind="policy", id=name),
            event.meta.organization_id,
            event.meta.correlation_id,
            str(event.meta.event_id),
        )


# A handler returns True when it wrote the tracking position itself (with its events). `tracking` is
# None when a dead letter is retried: the stream moved on long ago.
Handler = Callable[[Policies, Recorded, tuple[str, int] | None], bool]


def _reapply_webhook(p: Policies, event: Recorded, tracking: tuple[str, int] | None) -> bool:
    assert isinstance(event.fact, WebhookReceived)
    with contextlib.suppress(WebhookPayloadError):  # verified yet malformed: kept for audit, not applied
        webhooks.reapply_stored(p.deps, event.fact)
    return False


def _autosubmit(p: Policies, event: Recorded, tracking: tuple[str, int] | None) -> bool:
    medical_review.auto_submit(p.deps, p.ctx(AUTOSUBMIT, event), str(event.originator_id), p.beluga)
    return False


def _gate(p: Policies, event: Recorded, tracking: tuple[str, int] | None) -> bool:
    fulfillment.evaluate_gate(
        p.deps,
        p.ctx(fulfillment.GATE, event),
        str(event.originator_id),
        frozenset(p.pharmacies),
        tracking=tracking,
    )
    return tracking is not None


def _partner_call(p: Policies, order_id: str, call: Callable[[], object]) -> None:
    """Call a pharmacy for one order unless its partner is known to be down; an unreachable partner
    pauses only its own orders (each dead-lettered on its order), never the other partners'."""
    loaded = try_load(p.deps.store, Order, order_id)
    partner = (loaded.state.fulfillment_partner if loaded else None) or ""
    until = p._partners_down.get(partner)
    if until is not None and p.deps.clock() < until:
        raise fulfillment.SubmissionDeferred(
            f"the pharmacy {partner} is unreachable; not tried while it is down"
        )
    try:
        call()
    except fulfillment.SubmissionDeferred:
        p._partners_down[partner] = p.deps.clock() + PARTNER_PAUSE
        raise
    p._partners_down.pop(partner, None)


def _submit(p: Policies, event: Recorded, tracking: tuple[str, int] | None) -> bool:
    order_id = str(event.originator_id)
    _partner_call(
        p,
        order_id,
        lambda: fulfillment.submit_released(
            p.deps, p.ctx(fulfillment.SUBMITTER, event), order_id, p.pharmacies, tracking=tracking
        ),
    )
    return tracking is not None


def _cancel(p: Policies, event: Recorded, tracking: tuple[str, int] | None) -> bool:
    order_id = str(event.originator_id)
    _partner_call(
        p,
        order_id,
        lambda: fulfillment.cancel_if_closed(
            p.deps, p.ctx(fulfillment.CANCELLER, event), order_id, p.pharmacies, tracking=tracking
        ),
    )
    return tracking is not None


def _escalate(p: Policies, event: Recorded, tracking: tuple[str, int] | None) -> bool:
    # A retried dead letter names its order; a notification names the orders it touches.
    orders = (
        escalations.affected_orders(p.deps, event) if tracking is not None else [str(event.originator_id)]
    )
    escalations.evaluate_orders(
        p.deps,
        p.ctx(escalations.POLICY, event),
        orders,
        pending_after=p.pending_charge_after,
        tracking=tracking,
    )
    return tracking is not None


POLICIES: tuple[tuple[str, tuple[str, ...], Handler], ...] = (
    (WEBHOOKS, ("WebhookReceived",), _reapply_webhook),
    (AUTOSUBMIT, _READY_FOR_SCRIPT, _autosubmit),
    (fulfillment.GATE, _GATE_INPUTS, _gate),
    (fulfillment.SUBMITTER, ("FulfillmentReleased", "FulfillmentResubmitted"), _submit),
    (fulfillment.CANCELLER, ("PharmacyOrderSubmitted", "OrderRefunded", "OrderCanceled"), _cancel),
    (escalations.POLICY, topics_of(*escalations.TRIGGER_AGGREGATES), _escalate),
)
# Drained a page at a time (`_drain_page`): one evaluation per order the page touched.
PAGED = frozenset({escalations.POLICY})


def _drain_page(p: Policies, name: str, topics: tuple[str, ...], handle: Handler) -> int:
    """The escalation policy over a whole page; on a failure, one notification at a time, so a
    failing step is dead-lettered on its order as any other policy's is."""
    batch = p.deps.store.notifications(p.deps.store.tracked_position(name), p.page, topics)
    if not batch:
        return 0
    try:
        escalations.evaluate_page(
            p.deps,
            Actor(kind="policy", id=name),
            [decode_notification(n) for n in batch],
            pending_after=p.pending_charge_after,
            tracking=(name, batch[-1].id),
        )
    except Exception:
        log.exception("policy.page_failed", policy=name, position=batch[0].id)
        return _drain(p, name, topics, handle)
    return len(batch)


def _drain_any(p: Policies, name: str, topics: tuple[str, ...], handle: Handler) -> int:
    return (_drain_page if name in PAGED else _drain)(p, name, topics, handle)


_HANDLERS: dict[str, Handler] = {name: handle for name, _topics, handle in POLICIES}


def _sweep(p: Policies) -> int:
    """Every `sweep_seconds`: raise the escalations that time alone made due (never fails the pass)."""
    if p.views is None or time.monotonic() - p._last_sweep < p.sweep_seconds:
        return 0
    p._last_sweep = time.monotonic()
    try:
        actor = Actor(kind="policy", id=escalations.POLICY)
        swept = escalations.sweep_pending_charges(
            p.deps, p.views, actor, pending_after=p.pending_charge_after
        )
    except Exception:
        log.exception("policy.sweep_failed", policy=escalations.POLICY)
        return 0
    return len(swept)


def _track(p: Policies, name: str, position: int) -> None:
    with contextlib.suppress(ConcurrentWrite):  # already at or past it (another worker)
        p.deps.store.append([], tracking=(name, position))


def _drain(p: Policies, name: str, topics: tuple[str, ...], handle: Handler) -> int:
    """Handle one page after the tracked position; returns how many notifications were handled.

    A step that fails for an order is dead-lettered on that order (with this position) and the
    stream moves on; only a stored webhook's re-apply, which names no order, is retried in place."""
    batch = p.deps.store.notifications(p.deps.store.tracked_position(name), p.page, topics)
    pending: int | None = None  # a handled position whose tracking is not written yet
    handled = 0
    for notification in batch:
        key = (name, notification.id)
        event = decode_notification(notification)
        order_id = str(event.originator_id)
        try:
            wrote = handle(p, event, (name, notification.id))
        except Exception as exc:
            if event.aggregate_type == "order":
                _dead_letter(p, name, event, exc, (name, notification.id))
                wrote = True
            else:
                count = p._failures[key] = p._failures.get(key, 0) + 1
                if count < MAX_FAILURES:
                    log.exception("policy.failed", policy=name, position=notification.id, failures=count)
                    break
                log.error("policy.skipped", policy=name, position=notification.id, failures=count)
                wrote = False
        else:
            if p.dead_letters.is_open(order_id, name):  # a later notification got it through
                dead_letters.record_recovery(p.deps, p.ctx(name, event), order_id, name)
        p._failures.pop(key, None)
        pending = None if wrote else notification.id
        handled += 1
    if pending is not None:
        _track(p, name, pending)
    return handled


def _dead_letter(
    p: Policies, step: str, event: Recorded, exc: Exception, tracking: tuple[str, int] | None
) -> None:
    order_id = str(event.originator_id)
    failed = dead_letters.record_failure(
        p.deps, p.ctx(step, event), order_id, step, dead_letters.describe(exc), tracking
    )
    if failed is not None:
        log.warning(
            "policy.dead_letter",
            policy=step,
            order_id=order_id,
            attempts=failed.attempts,
            next_try_at=failed.next_try_at.isoformat(),
            error=failed.error,
        )


def retry_step(p: Policies, failure: Recorded) -> bool:
    """Run a dead-lettered step for its order again; True when it went through (and is closed)."""
    step = str(getattr(failure.fact, "step", ""))
    handle = _HANDLERS.get(step)
    if handle is None:
        return False
    order_id = str(failure.originator_id)
    try:
        handle(p, failure, None)
    except Exception as exc:
        _dead_letter(p, step, failure, exc, None)
        return False
    dead_letters.record_recovery(p.deps, p.ctx(step, failure), order_id, step)
    return True


def redrive_due(p: Policies) -> int:
    """Retry every dead letter whose time has come; returns how many went through."""
    p.dead_letters.catch_up(p.deps)
    recovered = sum(retry_step(p, failure) for failure in p.dead_letters.due(p.deps.clock()))
    p.dead_letters.catch_up(p.deps)
    return recovered


def redrive_order(p: Policies, order_id: str) -> list[tuple[str, bool]]:
    """`ledger replay redrive ORDER`: retry every open dead letter of one order now, due or not."""
    p.dead_letters.catch_up(p.deps)
    failures = [e for (oid, _step), e in list(p.dead_letters.open.items()) if oid == order_id]
    return [(str(getattr(f.fact, "step", "")), retry_step(p, f)) for f in failures]


def run_policies_once(p: Policies) -> int:
    """One pass of every policy over (at most) one page each, then the payment reconciler (at
    most every `reconcile_every` seconds) and the escalation sweep (every `sweep_seconds`); returns
    notifications handled, charges re-driven and escalations swept."""
    p.dead_letters.catch_up(p.deps)
    handled = sum(_drain_any(p, name, topics, handle) for name, topics, handle in POLICIES)
    handled += redrive_due(p)
    now = time.monotonic()
    if now - p._reconciled_at >= p.reconcile_every:
        p._reconciled_at = now
        handled += reconcile.reconcile_payments(p.deps)
    return handled + _sweep(p)


def run_policy_until_idle(p: Policies, name: str, max_passes: int = 1000) -> int:
    """Drain one policy alone (a test, or an operator re-running the escalation policy)."""
    _, topics, handle = next(entry for entry in POLICIES if entry[0] == name)
    total = 0
    for _ in range(max_passes):
        handled = _drain_any(p, name, topics, handle)
        total += handled
        if handled == 0:
            break
    return total


def run_until_idle(p: Policies, max_passes: int = 1000) -> int:
    total = 0
    for _ in range(max_passes):
        handled = run_policies_once(p)
        total += handled
        if handled == 0:
            break
    return total
