"""The Order aggregate: its facts, and the state folded from them.

The order never stores its status: `domain.status.order_status` derives it from these facts,
so a late or repeated webhook can only add a fact, never drag the status backwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from domain.catalog import LabRequirement, ProductKind
from domain.events import Fact

Source = Literal["PATIENT_PORTAL", "EMR", "CLINIC_CART", "SUBSCRIPTION"]
SourceContext = Literal["PATIENT_REFILL", "SUBSCRIPTION_CYCLE", "CLINIC_ORDER", "CHECKOUT"]
IntakeStatus = Literal["missing", "submitted", "accepted", "needs_correction", "rejected"]


class OrderLine(BaseModel):
    """A line as priced when the order was placed (prices are snapshotted, never looked up later)."""

    model_config = ConfigDict(frozen=True)
    product_id: str
    sku: str
    name: str
    kind: ProductKind
    quantity: int
    unit_price_cents: int
    requires_intake: bool = False
    lab: LabRequirement | None = None
    # Clinic-cart lines carry what the pharmacy needs; portal lines leave these empty.
    pharmacy_id: str | None = None
    sig: str | None = None
    prescriber_id: str | None = None
    # A clinic line's share of its shipment's one fee (see `domain.clinic.pricing`); 0 elsewhere.
    shipping_cents: int = 0

    @property
    def total_cents(self) -> int:
        return self.unit_price_cents * self.quantity + self.shipping_cents


class OrderFact(Fact):
    AGGREGATE = "order"


class OrderPlaced(OrderFact):
    TYPE = "OrderPlaced"
    number: str
    patient_id: str
    invoice_id: str
    lines: tuple[OrderLine, ...]
    currency: str
    source: Source
    source_context: SourceContext
    placed_at: datetime
    refill_of_order_id: str | None = None
    refill_of_order_number: str | None = None
    refill_product_id: str | None = None
    refill_original_quantity: int | None = None
    subscription_id: str | None = None
    cycle_number: int | None = None
    clinic_id: str | None = None
    cart_id: str | None = None


class OrderCharged(OrderFact):
    TYPE = "OrderCharged"
    invoice_id: str
    charged_at: datetime


class RefillOpened(OrderFact):
    """Recorded on the *original* order: a refill of one of its products was requested."""

    TYPE = "RefillOpened"
    refill_id: str
    refill_order_id: str
    refill_order_number: str
    product_id: str
    invoice_id: str


class IntakeRecorded(OrderFact):
    TYPE = "IntakeRecorded"
    status: Literal["submitted", "accepted", "needs_correction", "rejected"]
    note: str | None = None


class LabRequisitionRecorded(OrderFact):
    TYPE = "LabRequisitionRecorded"
    reference: str | None = None


class LabResultsRecorded(OrderFact):
    TYPE = "LabResultsRecorded"
    reference: str | None = None


class MedicalReviewSubmitted(OrderFact):
    TYPE = "MedicalReviewSubmitted"
    master_id: str
    trigger: str
    visit_type: str
    med_ids: tuple[str, ...]
    attempt: int


class MedicalReviewBlocked(OrderFact):
    """Submission refused before calling Beluga; `reasons` lists every blocking cause."""

    TYPE = "MedicalReviewBlocked"
    master_id: str
    trigger: str
    reasons: tuple[str, ...]
    attempt: int


class MedicalReviewFailed(OrderFact):
    """Beluga refused or could not be reached; ops retry once the cause is fixed."""

    TYPE = "MedicalReviewFailed"
    master_id: str
    trigger: str
    error: str
    attempt: int


class RxWritten(OrderFact):
    TYPE = "RxWritten"
    master_id: str
    med_ids: tuple[str, ...]
    vendor_event_id: str
    written_at: datetime


class ConsultConcluded(OrderFact):
    TYPE = "ConsultConcluded"
    master_id: str
    outcome: str | None
    vendor_event_id: str
    occurred_at: datetime | None = None  # Beluga's occurredAt (None on facts stored before it was kept)


class ConsultCanceled(OrderFact):
    TYPE = "ConsultCanceled"
    master_id: str
    vendor_event_id: str
    reason: str | None = None
    occurred_at: datetime | None = None


class NewConsultStarted(OrderFact):
    """After Beluga canceled the consult, CS or ops opened a new one under a new `masterId`."""

    TYPE = "NewConsultStarted"
    master_id: str
    consult_number: int
    reason: str


class FulfillmentHeld(OrderFact):
    TYPE = "FulfillmentHeld"
    failed_checks: tuple[str, ...]
    passed_checks: tuple[str, ...]


class FulfillmentReleased(OrderFact):
    TYPE = "FulfillmentReleased"
    partner: str
    passed_checks: tuple[str, ...]


class PharmacyOrderSubmitted(OrderFact):
    TYPE = "PharmacyOrderSubmitted"
    partner: str
    external_id: str


class PharmacySubmissionFailed(OrderFact):
    TYPE = "PharmacySubmissionFailed"
    partner: str
    error: str
    # True when the pharmacy refused the order (a 4xx) or we could not route it: nothing was taken
    # under this attempt's key, so it may be resubmitted under a new one. False: the outcome is
    # unknown (unreachable, 5xx) and only the same key may be retried.
    permanent: bool = False


class FulfillmentResubmitted(OrderFact):
    """Staff or ops send the order to a pharmacy again after a rejection or a permanent error.

    The new `attempt` gives the pharmacy a new dedupe key; `reason` and `requested_by` are the audit
    of who asked and why; `previous_problem` keeps the pharmacy's word that made it necessary."""

    TYPE = "FulfillmentResubmitted"
    attempt: int
    partner: str
    reason: str
    requested_by: str
    previous_problem: str


class PharmacySubmissionWithheld(OrderFact):
    """Released earlier, but the submitter's own check at submit time failed (refunded, canceled,
    consult canceled…): the order was not sent. The failed gate checks say why."""

    TYPE = "PharmacySubmissionWithheld"
    failed_checks: tuple[str, ...]


class PharmacyCancellationRequested(OrderFact):
    """The order was closed (refunded or canceled) after it reached the pharmacy; we asked the
    pharmacy to stop it. `canceled` False: the pharmacy said it never had the order."""

    TYPE = "PharmacyCancellationRequested"
    partner: str
    canceled: bool


class PharmacyCancellationFailed(OrderFact):
    """The pharmacy refused to cancel (too late: shipped) or the request could not be made."""

    TYPE = "PharmacyCancellationFailed"
    partner: str
    error: str


class PharmacyOrderAccepted(OrderFact):
    TYPE = "PharmacyOrderAccepted"
    partner: str
    external_id: str | None
    vendor_event_id: str
    occurred_at: datetime | None = None  # the pharmacy's occurredAt


class PharmacyOrderRejected(OrderFact):
    TYPE = "PharmacyOrderRejected"
    partner: str
    reason: str | None
    vendor_event_id: str
    occurred_at: datetime | None = None  # the pharmacy's occurredAt


class PharmacyOrderProcessing(OrderFact):
    TYPE = "PharmacyOrderProcessing"
    partner: str
    vendor_event_id: str
    occurred_at: datetime | None = None  # the pharmacy's occurredAt


class VendorFactStale(OrderFact):
    """A vendor's news older than what it already told us, which would move the order back (a
    rejection after a later acceptance or a shipment, a consult cancelation older than its
    prescription): kept as a fact so CS can read it, never applied to the order's state."""

    TYPE = "VendorFactStale"
    vendor: str
    event_type: str  # the vendor's own name for it: "rejected", "CONSULT_CANCELED", …
    vendor_event_id: str
    occurred_at: datetime
    latest_at: datetime  # the later news that makes it stale
    detail: str | None = None  # the vendor's words (a rejection's reason)


class PolicyStepFailed(OrderFact):
    """A policy step (the gate, the pharmacy submitter, …) failed for this order: a dead letter kept
    on the order itself, so one order's trouble never holds up the stream, and retried from here."""

    TYPE = "PolicyStepFailed"
    step: str
    error: str
    attempts: int
    next_try_at: datetime


class PolicyStepRecovered(OrderFact):
    """A step that had failed for this order went through (retried by the worker or by hand)."""

    TYPE = "PolicyStepRecovered"
    step: str
    attempts: int


@dataclass(frozen=True)
class FailedStep:
    step: str
    error: str
    attempts: int
    next_try_at: datetime


class OrderShipped(OrderFact):
    TYPE = "OrderShipped"
    carrier: str | None
    tracking: str | None
    vendor_event_id: str
    shipped_at: datetime


class OrderDelivered(OrderFact):
    TYPE = "OrderDelivered"
    vendor_event_id: str
    delivered_at: datetime


class OrderCanceled(OrderFact):
    TYPE = "OrderCanceled"
    reason: str


class OrderLineCorrected(OrderFact):
    """A clinic fixed a rejected line before resubmitting it: the SIG and / or the prescriber."""

    TYPE = "OrderLineCorrected"
    product_id: str
    sig: str | None = None
    prescriber_id: str | None = None


class OrderRefunded(OrderFact):
    TYPE = "OrderRefunded"
    reason: str
    amount_cents: int


@dataclass(frozen=True)
class OpenedRefill:
    refill_id: str
    refill_order_id: str
    refill_order_number: str
    product_id: str
    invoice_id: str


@dataclass(frozen=True)
class Order:
    id: str
    placed: OrderPlaced
    charged_at: datetime | None = None
    intake_status: IntakeStatus = "missing"
    lab_requisition: bool = False
    lab_results: bool = False
    master_id: str | None = None
    # not_submitted | submitted | blocked | failed | rx_written | concluded | canceled
    medical_review_status: str = "not_submitted"
    consult_number: int = 1  # a new consult after a cancellation gets the next number and masterId
    consult_canceled_reason: str | None = None
    medical_review_attempts: int = 0
    blocked_reasons: tuple[str, ...] = ()
    medical_review_error: str | None = None
    rx_med_ids: tuple[str, ...] = ()  # every medId any RX_WRITTEN named
    submitted_med_ids: tuple[str, ...] = ()  # the medIds of the last visit sent to Beluga
    consult_outcome: str | None = None
    fulfillment_released: bool = False
    fulfillment_partner: str | None = None
    held_by: tuple[str, ...] = ()
    pharmacy_submitted: bool = False
    pharmacy_external_id: str | None = None
    pharmacy_error: str | None = None
    withheld_by: tuple[str, ...] = ()  # the gate checks that failed when the submitter re-checked
    pharmacy_cancellation: str | None = None  # requested | failed
    pharmacy_cancellation_error: str | None = None
    pharmacy_error_permanent: bool = False
    pharmacy_attempt: int = 1  # which submission the pharmacy's dedupe key (and its webhooks) name
    previous_pharmacy_problems: tuple[str, ...] = ()  # what each resubmission answered
    # The vendors' own clocks: the latest news of each kind, to tell a late (stale) fact from news.
    pharmacy_progress_at: datetime | None = None  # latest accepted/processing/shipped/delivered
    pharmacy_rejected_at: datetime | None = None
    beluga_latest_at: datetime | None = None  # latest RX_WRITTEN / conclusion / cancelation
    failed_steps: tuple[FailedStep, ...] = ()  # open dead letters, one per policy step
    accepted: bool = False
    processing: bool = False
    shipped: bool = False
    delivered: bool = False
    carrier: str | None = None
    tracking: str | None = None
    pharmacy_rejected_reason: str | None = None
    canceled_reason: str | None = None
    refunded: bool = False
    refills: tuple[OpenedRefill, ...] = field(default=())
    seen_vendor_events: frozenset[str] = frozenset()
    stale_vendor_events: frozenset[str] = frozenset()  # of those, the ones recorded as stale

    @property
    def number(self) -> str:
        return self.placed.number

    @property
    def patient_id(self) -> str:
        return self.placed.patient_id

    @property
    def paid(self) -> bool:
        return self.charged_at is not None

    @property
    def requires_intake(self) -> bool:
        return any(line.requires_intake for line in self.placed.lines)

    @property
    def is_medication(self) -> bool:
        return any(line.kind == "medication" for line in self.placed.lines)

    def line_for(self, product_id: str) -> OrderLine | None:
        return next((ln for ln in self.placed.lines if ln.product_id == product_id), None)


def _with(state: Order, **changes: object) -> Order:
    """`dataclasses.replace` without re-running __init__: folds and rebuilds call this once per
    event, and copying the field dict is ~10x cheaper than constructing a 30-field dataclass."""
    new = object.__new__(Order)
    new.__dict__.update(state.__dict__)
    new.__dict__.update(changes)
    return new


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _progressed(state: Order, at: datetime | None, **changes: object) -> Order:
    """Forward news from the pharmacy only adds, so it is applied whatever its age. News later than a
    rejection (or a shipment at all) is the pharmacy's last word: the rejection no longer stands."""
    shipped = bool(changes.get("shipped") or changes.get("delivered"))
    rejection_superseded = shipped or (
        at is not None and state.pharmacy_rejected_at is not None and at > state.pharmacy_rejected_at
    )
    if rejection_superseded:
        changes.update(pharmacy_rejected_reason=None, pharmacy_rejected_at=None)
    return _with(state, pharmacy_progress_at=_later(state.pharmacy_progress_at, at), **changes)


def stale_against(state: Order, fact: Fact) -> datetime | None:
    """The later vendor news that makes `fact` stale, or None when it is news.

    Only news that would move the order back can be stale: a pharmacy rejection older than its
    latest progress (or after a shipment), a consult cancelation or rejection older than the latest
    word from Beluga on the same consult. Facts without a vendor time (stored before it was kept)
    are never stale."""
    match fact:
        case PharmacyOrderRejected():
            latest = state.pharmacy_progress_at
            if latest is not None and (
                state.shipped
                or state.delivered
                or (fact.occurred_at is not None and fact.occurred_at < latest)
            ):
                return latest
        case ConsultCanceled() | ConsultConcluded():
            regressive = isinstance(fact, ConsultCanceled) or fact.outcome == "rejected"
            latest = state.beluga_latest_at
            same_consult = state.master_id is None or fact.master_id == state.master_id
            if (
                regressive
                and same_consult
                and latest is not None
                and fact.occurred_at is not None
                and fact.occurred_at < latest
            ):
                return latest
    return None


def evolve_order(state: Order | None, fact: Fact, aggregate_id: str) -> Order:
    if isinstance(fact, OrderPlaced):
        return Order(id=aggregate_id, placed=fact)
    assert state is not None, f"{fact.TYPE} before OrderPlaced"
    vendor_event_id = getattr(fact, "vendor_event_id", None)
    if vendor_event_id:
        state = _with(state, seen_vendor_events=state.seen_vendor_events | {vendor_event_id})
    match fact:
        case VendorFactStale():
            return _with(state, stale_vendor_events=state.stale_vendor_events | {fact.vendor_event_id})
        case OrderCharged():
            return _with(state, charged_at=state.charged_at or fact.charged_at)
        case RefillOpened():
            opened = OpenedRefill(
                fact.refill_id,
                fact.refill_order_id,
                fact.refill_order_number,
                fact.product_id,
                fact.invoice_id,
            )
            return _with(state, refills=(*state.refills, opened))
        case IntakeRecorded():
            return _with(state, intake_status=fact.status)
        case LabRequisitionRecorded():
            return _with(state, lab_requisition=True)
        case LabResultsRecorded():
            return _with(state, lab_results=True)
        case MedicalReviewSubmitted():
            return _with(
                state,
                master_id=fact.master_id,
                medical_review_status="submitted",
                medical_review_attempts=fact.attempt,
                blocked_reasons=(),
                medical_review_error=None,
                submitted_med_ids=fact.med_ids,
            )
        case MedicalReviewBlocked():
            return _with(
                state,
                master_id=fact.master_id,
                medical_review_status="blocked",
                medical_review_attempts=fact.attempt,
                blocked_reasons=fact.reasons,
            )
        case MedicalReviewFailed():
            return _with(
                state,
                master_id=fact.master_id,
                medical_review_status="failed",
                medical_review_attempts=fact.attempt,
                medical_review_error=fact.error,
            )
        case RxWritten():
            merged = tuple(dict.fromkeys((*state.rx_med_ids, *fact.med_ids)))
            state = _with(state, beluga_latest_at=_later(state.beluga_latest_at, fact.written_at))
            if state.medical_review_status in ("concluded", "canceled"):
                return _with(state, rx_med_ids=merged)
            return _with(state, rx_med_ids=merged, medical_review_status="rx_written")
        case ConsultConcluded():
            if stale_against(state, fact) is not None:
                return state  # stored before stale news was told apart: still never moves back
            return _with(
                state,
                consult_outcome=fact.outcome,
                medical_review_status="concluded",
                beluga_latest_at=_later(state.beluga_latest_at, fact.occurred_at),
            )
        case ConsultCanceled():
            if state.master_id is not None and fact.master_id != state.master_id:
                return state  # the cancellation of an earlier consult, not of the current one
            if stale_against(state, fact) is not None:
                return state
            return _with(
                state,
                medical_review_status="canceled",
                consult_canceled_reason=fact.reason,
                beluga_latest_at=_later(state.beluga_latest_at, fact.occurred_at),
            )
        case NewConsultStarted():
            return _with(
                state,
                master_id=fact.master_id,
                consult_number=fact.consult_number,
                medical_review_status="not_submitted",
                consult_outcome=None,
                consult_canceled_reason=None,
                blocked_reasons=(),
                medical_review_error=None,
                beluga_latest_at=None,
            )
        case FulfillmentHeld():
            return _with(state, held_by=fact.failed_checks)
        case FulfillmentReleased():
            return _with(state, fulfillment_released=True, fulfillment_partner=fact.partner, held_by=())
        case PharmacyOrderSubmitted():
            return _with(
                state,
                pharmacy_submitted=True,
                pharmacy_external_id=fact.external_id,
                fulfillment_partner=fact.partner,
                pharmacy_error=None,
                pharmacy_error_permanent=False,
            )
        case PharmacySubmissionWithheld():
            return _with(state, withheld_by=fact.failed_checks)
        case PharmacyCancellationRequested():
            return _with(state, pharmacy_cancellation="requested", pharmacy_cancellation_error=None)
        case PharmacyCancellationFailed():
            return _with(state, pharmacy_cancellation="failed", pharmacy_cancellation_error=fact.error)
        case PharmacySubmissionFailed():
            return _with(state, pharmacy_error=fact.error, pharmacy_error_permanent=fact.permanent)
        case FulfillmentResubmitted():
            return _with(
                state,
                pharmacy_attempt=fact.attempt,
                fulfillment_released=True,
                fulfillment_partner=fact.partner,
                pharmacy_submitted=False,
                pharmacy_external_id=None,
                pharmacy_error=None,
                pharmacy_error_permanent=False,
                pharmacy_rejected_reason=None,
                pharmacy_rejected_at=None,
                pharmacy_progress_at=None,
                withheld_by=(),
                accepted=False,
                processing=False,
                previous_pharmacy_problems=(*state.previous_pharmacy_problems, fact.previous_problem),
            )
        case PharmacyOrderAccepted():
            return _progressed(
                state,
                fact.occurred_at,
                accepted=True,
                pharmacy_external_id=state.pharmacy_external_id or fact.external_id,
            )
        case PharmacyOrderRejected():
            if stale_against(state, fact) is not None:
                return state  # stored before stale news was told apart: still never moves back
            return _with(
                state,
                pharmacy_rejected_reason=fact.reason or "rejected by pharmacy",
                pharmacy_rejected_at=fact.occurred_at,
            )
        case PharmacyOrderProcessing():
            return _progressed(state, fact.occurred_at, accepted=True, processing=True)
        case OrderShipped():
            return _progressed(
                state, fact.shipped_at, shipped=True, carrier=fact.carrier, tracking=fact.tracking
            )
        case OrderDelivered():
            return _progressed(state, fact.delivered_at, delivered=True)
        case PolicyStepFailed():
            others = tuple(f for f in state.failed_steps if f.step != fact.step)
            failed = FailedStep(fact.step, fact.error, fact.attempts, fact.next_try_at)
            return _with(state, failed_steps=(*others, failed))
        case PolicyStepRecovered():
            return _with(state, failed_steps=tuple(f for f in state.failed_steps if f.step != fact.step))
        case OrderCanceled():
            return _with(state, canceled_reason=fact.reason)
        case OrderLineCorrected():
            lines = tuple(
                ln.model_copy(
                    update={
                        "sig": fact.sig or ln.sig,
                        "prescriber_id": fact.prescriber_id or ln.prescriber_id,
                    }
                )
                if ln.product_id == fact.product_id
                else ln
                for ln in state.placed.lines
            )
            return _with(state, placed=state.placed.model_copy(update={"lines": lines}))
        case OrderRefunded():
            return _with(state, refunded=True)
    return state
