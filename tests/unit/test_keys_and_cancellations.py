"""Pure rules of issue 10: keyed requests (Stripe's semantics), stale attempts, pharmacy cancellation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import Conflict
from domain.events import Fact
from domain.idempotency import (
    IdempotentRequestAbandoned,
    IdempotentRequestResumed,
    IdempotentRequestStarted,
    IdempotentResponseRecorded,
    StoredResponse,
    begin_keyed,
    keeps,
)
from domain.invoices import InvoiceIssued, PaymentAttempted, PaymentSucceeded, stale_attempt
from domain.orders import OrderCanceled, OrderRefunded, PharmacyCancellationFailed, PharmacyOrderSubmitted
from domain.pharmacy_cancellation import needs_pharmacy_cancellation, pharmacy_cancellation
from tests.unit.given import at, charged, given, line, placed, product

STALE = timedelta(minutes=2)


def _begin(*facts: Fact, fingerprint: str = "f1", minutes: int = 0) -> object:
    state = given("idempotent_request", "k", *facts) if facts else None
    return begin_keyed(state, scope="s", fingerprint=fingerprint, now=at(minutes), stale_after=STALE)


def test_a_new_key_starts_and_a_finished_one_replays_its_response() -> None:
    started = _begin()
    assert isinstance(started, IdempotentRequestStarted)
    done = IdempotentResponseRecorded(status=402, body='{"x":1}', content_type="application/problem+json")
    assert _begin(started, done, minutes=60) == StoredResponse(402, '{"x":1}', "application/problem+json")


def test_another_request_under_the_key_is_refused_even_while_running() -> None:
    started = IdempotentRequestStarted(scope="s", fingerprint="f1", started_at=at(0))
    with pytest.raises(Conflict) as refused:
        _begin(started, fingerprint="f2")
    assert refused.value.reasons == ("IDEMPOTENCY_KEY_REUSED",)


def test_a_running_request_is_in_progress_until_stale_then_taken_over() -> None:
    started = IdempotentRequestStarted(scope="s", fingerprint="f1", started_at=at(0))
    with pytest.raises(Conflict) as busy:
        _begin(started, minutes=1)
    assert busy.value.reasons == ("REQUEST_IN_PROGRESS",)
    assert isinstance(_begin(started, minutes=3), IdempotentRequestResumed)
    # An abandoned run (a server error) may be retried at once.
    assert isinstance(_begin(started, IdempotentRequestAbandoned(status=500)), IdempotentRequestResumed)


def test_only_final_answers_are_kept() -> None:
    assert keeps(201) and keeps(402) and keeps(409, ("INVOICE_ALREADY_PAID",))
    assert not keeps(500)
    assert not keeps(409, ("PAYMENT_IN_PROGRESS",))
    assert not keeps(409, ("CONCURRENT_UPDATE",))


def test_an_attempt_is_stale_only_while_pending_and_old() -> None:
    issued = InvoiceIssued(order_ids=("o1",), amount_cents=100, currency="usd", patient_id="pat")
    attempted = PaymentAttempted(
        attempt=1,
        gateway="fake",
        payment_method_id="m",
        idempotency_key="k1",
        amount_cents=100,
        attempted_at=at(0),
    )
    pending = given("invoice", "inv", issued, attempted)
    assert stale_attempt(pending, at(1), STALE) is None
    found = stale_attempt(pending, at(2), STALE)
    assert found is not None and found.idempotency_key == "k1"
    paid = given(
        "invoice",
        "inv",
        issued,
        attempted,
        PaymentSucceeded(attempt=1, gateway="fake", gateway_reference="r", paid_at=at(0)),
    )
    assert stale_attempt(paid, at(10), STALE) is None


def test_an_order_closed_after_submission_needs_the_pharmacy_to_cancel_once() -> None:
    facts = [placed("pat", line(product())), charged()]
    submitted = PharmacyOrderSubmitted(partner="belmar", external_id="LF1")
    assert (
        pharmacy_cancellation(given("order", "o1", *facts, OrderRefunded(reason="r", amount_cents=1))) is None
    )
    refunded = given("order", "o1", *facts, submitted, OrderRefunded(reason="r", amount_cents=1))
    found = pharmacy_cancellation(refunded)
    assert found is not None
    assert (found.closed_as, found.state, found.external_id, found.escalate) == (
        "REFUNDED",
        "needed",
        "LF1",
        True,
    )
    assert needs_pharmacy_cancellation(refunded)
    refused = given(
        "order",
        "o1",
        *facts,
        submitted,
        OrderCanceled(reason="c"),
        PharmacyCancellationFailed(partner="belmar", error="TOO_LATE: shipped"),
    )
    found = pharmacy_cancellation(refused)
    assert found is not None and (found.closed_as, found.state) == ("CANCELED", "failed")
    assert not needs_pharmacy_cancellation(refused)  # a refusal is for a person, not a retry loop
