"""Medical review: intake and lab facts, and sending an order's visit to Beluga.

A submission is decided from the order and the *current* catalog: blocked (recorded with every
reason, Beluga never called), or sent under the order's one `masterId` and recorded as submitted
or failed. The call comes before its record; a crash in between is harmless because a re-send
under the same `masterId` is the same visit at Beluga (it answers 200, never a second visit).
"""

from __future__ import annotations

from typing import Protocol

import structlog

from adapters.beluga import BelugaRejected, BelugaUnavailable, RequestedMed, VisitAccepted, VisitSubmission
from domain import medical_review as mr
from domain.catalog import Product
from domain.errors import Conflict
from domain.orders import (
    IntakeRecorded,
    LabRequisitionRecorded,
    LabResultsRecorded,
    MedicalReviewBlocked,
    MedicalReviewFailed,
    MedicalReviewSubmitted,
    NewConsultStarted,
    Order,
)
from domain.parties import Patient
from domain.status import order_status
from service.deps import Deps, retry_on_conflict
from service.unit import Context, Loaded, load, load_owned, try_load

log = structlog.get_logger(__name__)


class VisitSubmitter(Protocol):
    def submit_visit(self, visit: VisitSubmission) -> VisitAccepted: ...


def current_products(deps: Deps, order: Order) -> dict[str, Product | None]:
    found: dict[str, Product | None] = {}
    for line in order.placed.lines:
        loaded = try_load(deps.store, Product, line.product_id)
        found[line.product_id] = loaded.state if loaded is not None else None
    return found


def _record(
    deps: Deps, ctx: Context, order_id: str, fact: MedicalReviewSubmitted | MedicalReviewFailed
) -> Order:
    def attempt() -> Order:
        loaded = load(deps.store, Order, order_id)
        if loaded.state.medical_review_attempts >= fact.attempt:
            return loaded.state  # a concurrent submitter recorded this attempt
        batch = deps.batch(ctx)
        batch.extend(loaded, fact)
        deps.commit(batch)
        return load(deps.store, Order, order_id).state

    return retry_on_conflict(attempt)


def submit(deps: Deps, ctx: Context, order_id: str, beluga: VisitSubmitter | None, *, trigger: str) -> Order:
    """Block (with every reason) or send the order's visit to Beluga, and record which."""

    def blocked_or_plan() -> tuple[Order, mr.VisitPlan | None]:
        loaded = load(deps.store, Order, order_id)
        order: Order = loaded.state
        products = current_products(deps, order)
        reasons = mr.blocking_reasons(order, products)
        if not reasons:
            return order, mr.plan_visit(order, products)
        batch = deps.batch(ctx)
        batch.extend(
            loaded,
            MedicalReviewBlocked(
                master_id=order.master_id or mr.master_id_for(order.id),
                trigger=trigger,
                reasons=reasons,
                attempt=order.medical_review_attempts + 1,
            ),
        )
        deps.commit(batch)
        log.info("medical_review.blocked", order_id=order.id, reasons=list(reasons), trigger=trigger)
        return load(deps.store, Order, order_id).state, None

    order, plan = retry_on_conflict(blocked_or_plan)
    if plan is None:
        return order
    attempt = order.medical_review_attempts + 1
    outcome: MedicalReviewSubmitted | MedicalReviewFailed
    try:
        if beluga is None:
            raise BelugaUnavailable("medical review (Beluga) is not configured")
        beluga.submit_visit(_visit(deps, order, plan))
        outcome = MedicalReviewSubmitted(
            master_id=plan.master_id,
            trigger=trigger,
            visit_type=plan.visit_type,
            med_ids=plan.med_ids,
            attempt=attempt,
        )
    except BelugaRejected as exc:
        outcome = MedicalReviewFailed(
            master_id=plan.master_id,
            trigger=trigger,
            error=f"Beluga refused the visit: {exc.code}: {exc.message}",
            attempt=attempt,
        )
    except BelugaUnavailable as exc:
        outcome = MedicalReviewFailed(
            master_id=plan.master_id,
            trigger=trigger,
            error=f"Beluga could not be reached: {exc}",
            attempt=attempt,
        )
    log.info(
        "medical_review.outcome", order_id=order.id, outcome=outcome.TYPE, trigger=trigger, attempt=attempt
    )
    return _record(deps, ctx, order_id, outcome)


def _visit(deps: Deps, order: Order, plan: mr.VisitPlan) -> VisitSubmission:
    patient: Patient = load(deps.store, Patient, order.patient_id).state
    meds = []
    for line in mr.medication_lines(order):
        product = current_products(deps, order)[line.product_id]
        assert product is not None
        assert product.medical_review is not None
        meds.append(RequestedMed(str(product.medical_review.med_id), line.name, line.quantity))
    return VisitSubmission(
        master_id=plan.master_id,
        visit_type=plan.visit_type,
        patient_ref=order.patient_id,
        patient_state=patient.state,
        meds=tuple(meds),
        pharmacy=plan.pharmacy,
        order_id=order.id,
        intake_ref=None,
        lab_method=plan.lab_method,
    )


def auto_submit(deps: Deps, ctx: Context, order_id: str, beluga: VisitSubmitter | None) -> bool:
    """The policy's step: submit once a paid order reaches AWAITING_SCRIPT; True when it acted."""
    loaded = try_load(deps.store, Order, order_id)
    if loaded is None:
        return False
    order: Order = loaded.state
    if not mr.should_auto_submit(order, order_status(order)):
        return False
    submit(deps, ctx, order_id, beluga, trigger=mr.trigger_for(order))
    return True


RETRYABLE = frozenset({"not_submitted", "blocked", "failed"})


def retry(deps: Deps, ctx: Context, order_id: str, beluga: VisitSubmitter | None) -> Order:
    """Ops re-send after fixing a cause; the visit keeps its masterId."""
    order: Order = load_owned(deps.store, ctx, Order, order_id).state
    refused = retry_refusal(order)
    if refused is not None:
        raise refused
    return submit(deps, ctx, order_id, beluga, trigger=mr.RETRY_TRIGGER)


def retry_refusal(order: Order) -> Conflict | None:
    """Why `retry` would refuse this order now (None: it would accept); the console asks too."""
    if not mr.needs_medical_review(order):
        return Conflict("This order needs no medical review.", reasons=("MEDICAL_REVIEW_NOT_REQUIRED",))
    if order_status(order) in ("CANCELED", "REFUNDED", "REJECTED"):
        return Conflict("The order is closed.", reasons=("ORDER_CLOSED",))
    if not order.paid:
        return Conflict("The order is not paid yet.", reasons=("NOT_PAID",))
    if order.medical_review_status == "canceled":
        return Conflict(
            "Beluga canceled this consult; its masterId cannot be sent again. Start a new consult or "
            "refund the order.",
            reasons=("CONSULT_CANCELED",),
        )
    if order.medical_review_status not in RETRYABLE:
        return Conflict(
            f"The medical review is already {order.medical_review_status}.",
            reasons=("MEDICAL_REVIEW_NOT_RETRYABLE",),
        )
    return None


def new_consult_refusal(order: Order) -> Conflict | None:
    """Why `start_new_consult` would refuse this order now (None: it would accept)."""
    if order_status(order) in ("CANCELED", "REFUNDED", "REJECTED"):
        return Conflict("The order is closed.", reasons=("ORDER_CLOSED",))
    if order.medical_review_status != "canceled":
        return Conflict(
            "A new consult is only for an order whose consult Beluga canceled.",
            reasons=("CONSULT_NOT_CANCELED",),
        )
    return None


def start_new_consult(
    deps: Deps, ctx: Context, order_id: str, reason: str, beluga: VisitSubmitter | None
) -> Order:
    """After Beluga canceled the consult: a new visit under the next masterId, with the reason why.

    The cancelled consult's masterId is spent at Beluga (re-sending it returns the cancelled visit),
    so the way forward is a new consult, recorded with who asked and why, then submitted as usual.
    """

    def open_consult() -> None:
        loaded = load_owned(deps.store, ctx, Order, order_id)
        order: Order = loaded.state
        refused = new_consult_refusal(order)
        if refused is not None:
            raise refused
        number = order.consult_number + 1
        batch = deps.batch(ctx)
        batch.extend(
            loaded,
            NewConsultStarted(
                master_id=mr.master_id_for(order.id, number), consult_number=number, reason=reason
            ),
        )
        deps.commit(batch)

    retry_on_conflict(open_consult)
    return submit(deps, ctx, order_id, beluga, trigger=mr.NEW_CONSULT_TRIGGER)


def record_intake(deps: Deps, ctx: Context, order_id: str, status: str, note: str | None) -> Order:
    def attempt() -> Order:
        loaded: Loaded[Order] = load_owned(deps.store, ctx, Order, order_id)
        order: Order = loaded.state
        _editable(order)
        if order.intake_status == status:
            return order  # a resend of the same status is not news
        batch = deps.batch(ctx)
        batch.extend(loaded, IntakeRecorded(status=status, note=note))
        deps.commit(batch)
        return load(deps.store, Order, order_id).state

    return retry_on_conflict(attempt)


def record_lab(deps: Deps, ctx: Context, order_id: str, step: str, reference: str | None) -> Order:
    def attempt() -> Order:
        loaded = load_owned(deps.store, ctx, Order, order_id)
        order: Order = loaded.state
        _editable(order)
        if not any(line.lab is not None and step in line.lab.steps for line in order.placed.lines):
            raise Conflict(f"No line of this order needs a lab {step}.", reasons=("LAB_NOT_REQUIRED",))
        if order.lab_requisition if step == "requisition" else order.lab_results:
            return order
        fact = (
            LabRequisitionRecorded(reference=reference)
            if step == "requisition"
            else LabResultsRecorded(reference=reference)
        )
        batch = deps.batch(ctx)
        batch.extend(loaded, fact)
        deps.commit(batch)
        return load(deps.store, Order, order_id).state

    return retry_on_conflict(attempt)


def _editable(order: Order) -> None:
    # Once released to a pharmacy, what cleared the order is history: changing it now would move
    # the status backwards while the medication is already being compounded.
    if order.fulfillment_released:
        raise Conflict("The order is already released to the pharmacy.", reasons=("ORDER_RELEASED",))
    if order_status(order) in ("CANCELED", "REFUNDED", "REJECTED"):
        raise Conflict("The order is closed.", reasons=("ORDER_CLOSED",))
