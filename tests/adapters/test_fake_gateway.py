"""The in-process fake gateway: Stripe test tokens, declines, idempotency, thread safety."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from adapters.payments.fake import FakeGateway
from adapters.payments.port import (
    ChargeRequest,
    GatewayError,
    GatewayUnavailable,
    InvalidPaymentToken,
    PaymentGateway,
)


def _request(pm: str, customer: str, key: str = "inv-1:1", amount: int = 4_900) -> ChargeRequest:
    return ChargeRequest(
        idempotency_key=key,
        amount_cents=amount,
        currency="usd",
        customer_ref=customer,
        payment_method_ref=pm,
        description="Refill",
        metadata={"invoice_id": "inv-1"},
    )


def test_satisfies_the_port() -> None:
    gateway: PaymentGateway = FakeGateway()
    assert gateway.name == "fake"


@pytest.mark.parametrize(
    ("token", "brand", "last4"),
    [
        ("pm_card_visa", "visa", "4242"),
        ("pm_card_mastercard", "mastercard", "4444"),
        ("pm_card_amex", "amex", "8431"),
    ],
)
def test_save_card_and_pay(token: str, brand: str, last4: str) -> None:
    gateway = FakeGateway()
    saved = gateway.save_card(customer_ref=None, token=token, reference="pat-7")
    assert saved.customer_ref == "fcus_pat-7"
    assert saved.payment_method_ref.startswith("fpm_")
    assert (saved.brand, saved.last4) == (brand, last4)

    outcome = gateway.charge(_request(saved.payment_method_ref, saved.customer_ref))

    assert outcome.succeeded
    assert outcome.reference is not None
    assert gateway.charges_succeeded() == 1
    [charge] = gateway.charges()
    assert (charge.reference, charge.amount_cents, charge.metadata) == (
        outcome.reference,
        4_900,
        {"invoice_id": "inv-1"},
    )


def test_existing_customer_is_kept_and_refs_are_unique() -> None:
    gateway = FakeGateway()
    first = gateway.save_card(customer_ref="fcus_x", token="pm_card_visa", reference="pat-1")
    second = gateway.save_card(customer_ref="fcus_x", token="pm_card_visa", reference="pat-1")
    assert first.customer_ref == second.customer_ref == "fcus_x"
    assert first.payment_method_ref != second.payment_method_ref


def test_charge_customer_fail_saves_but_declines() -> None:
    gateway = FakeGateway()
    saved = gateway.save_card(customer_ref=None, token="pm_card_chargeCustomerFail", reference="pat-1")

    outcome = gateway.charge(_request(saved.payment_method_ref, saved.customer_ref))

    assert not outcome.succeeded
    assert outcome.decline_code == "card_declined"
    assert outcome.message == "Your card was declined."
    assert gateway.charges_succeeded() == 0
    assert [c.succeeded for c in gateway.charges()] == [False]


def test_insufficient_funds_declines_with_its_code() -> None:
    gateway = FakeGateway()
    saved = gateway.save_card(
        customer_ref=None, token="pm_card_chargeDeclinedInsufficientFunds", reference="pat-1"
    )
    outcome = gateway.charge(_request(saved.payment_method_ref, saved.customer_ref))
    assert not outcome.succeeded
    assert outcome.decline_code == "insufficient_funds"
    assert outcome.message


@pytest.mark.parametrize("token", ["tok_visa", "4242424242424242", "", "pm_visa"])
def test_unknown_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidPaymentToken):
        FakeGateway().save_card(customer_ref=None, token=token, reference="pat-1")


def test_same_idempotency_key_charges_once() -> None:
    gateway = FakeGateway()
    saved = gateway.save_card(customer_ref=None, token="pm_card_visa", reference="pat-1")
    request = _request(saved.payment_method_ref, saved.customer_ref)

    first = gateway.charge(request)
    second = gateway.charge(request)

    assert first == second
    assert gateway.charges_succeeded() == 1
    assert len(gateway.charges()) == 1


def test_a_new_key_is_a_new_charge() -> None:
    gateway = FakeGateway()
    saved = gateway.save_card(customer_ref=None, token="pm_card_visa", reference="pat-1")
    a = gateway.charge(_request(saved.payment_method_ref, saved.customer_ref, key="inv-1:1"))
    b = gateway.charge(_request(saved.payment_method_ref, saved.customer_ref, key="inv-1:2"))
    assert a.reference != b.reference
    assert gateway.charges_succeeded() == 2


def test_reused_key_with_other_parameters_is_an_error() -> None:
    gateway = FakeGateway()
    saved = gateway.save_card(customer_ref=None, token="pm_card_visa", reference="pat-1")
    gateway.charge(_request(saved.payment_method_ref, saved.customer_ref, amount=100))
    with pytest.raises(GatewayError):
        gateway.charge(_request(saved.payment_method_ref, saved.customer_ref, amount=200))
    assert gateway.charges_succeeded() == 1


def test_concurrent_charges_with_one_key_charge_once() -> None:
    gateway = FakeGateway()
    saved = gateway.save_card(customer_ref=None, token="pm_card_visa", reference="pat-1")
    request = _request(saved.payment_method_ref, saved.customer_ref)
    start = threading.Barrier(8)
    outcomes = []

    def pay() -> None:
        start.wait()
        outcomes.append(gateway.charge(request))

    threads = [threading.Thread(target=pay) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len({o.reference for o in outcomes}) == 1
    assert gateway.charges_succeeded() == 1


def test_is_deterministic() -> None:
    def run() -> list[object]:
        gateway = FakeGateway()
        saved = gateway.save_card(customer_ref=None, token="pm_card_visa", reference="pat-1")
        outcome = gateway.charge(_request(saved.payment_method_ref, saved.customer_ref))
        return [saved, outcome]

    assert run() == run()


def test_ref_from_another_process_still_charges() -> None:
    # The demo may restart: the ledger keeps the ref, a fresh fake must still honour it.
    saved = FakeGateway().save_card(customer_ref=None, token="pm_card_chargeCustomerFail", reference="pat-1")
    fresh = FakeGateway()
    outcome = fresh.charge(_request(saved.payment_method_ref, saved.customer_ref))
    assert outcome.decline_code == "card_declined"
    assert fresh.charge(_request("fpm_x", saved.customer_ref, key="k2")).succeeded is False


def test_payment_method_of_another_customer_is_refused() -> None:
    gateway = FakeGateway()
    saved = gateway.save_card(customer_ref=None, token="pm_card_visa", reference="pat-1")
    outcome = gateway.charge(_request(saved.payment_method_ref, "fcus_someone-else"))
    assert not outcome.succeeded
    assert gateway.charges_succeeded() == 0


def test_refund_full_partial_and_over() -> None:
    gateway = FakeGateway()
    saved = gateway.save_card(customer_ref=None, token="pm_card_visa", reference="pat-1")
    charged = gateway.charge(_request(saved.payment_method_ref, saved.customer_ref, amount=1000))
    assert charged.reference is not None

    ref = charged.reference

    part = gateway.refund(idempotency_key="r1", charge_reference=ref, amount_cents=400)
    again = gateway.refund(idempotency_key="r1", charge_reference=ref, amount_cents=400)
    too_much = gateway.refund(idempotency_key="r2", charge_reference=ref, amount_cents=700)
    rest = gateway.refund(idempotency_key="r3", charge_reference=ref, amount_cents=600)

    assert part.succeeded
    assert part == again
    assert not too_much.succeeded
    assert rest.succeeded
    assert sum(r.amount_cents for r in gateway.refunds()) == 1000


def test_refund_of_declined_or_unknown_charge_fails() -> None:
    gateway = FakeGateway()
    saved = gateway.save_card(customer_ref=None, token="pm_card_chargeCustomerFail", reference="pat-1")
    declined = gateway.charge(_request(saved.payment_method_ref, saved.customer_ref))
    assert declined.reference is not None
    assert not gateway.refund(
        idempotency_key="r1", charge_reference=declined.reference, amount_cents=1
    ).succeeded
    assert not gateway.refund(idempotency_key="r2", charge_reference="fpi_404", amount_cents=1).succeeded


def test_unavailable_before_charging_charges_nothing() -> None:
    gateway = FakeGateway()
    saved = gateway.save_card(customer_ref=None, token="pm_card_visa", reference="pat-1")
    request = _request(saved.payment_method_ref, saved.customer_ref)
    gateway.fail_next()
    with pytest.raises(GatewayUnavailable):
        gateway.charge(request)
    assert gateway.charges() == []
    assert gateway.charge(request).succeeded
    assert gateway.charges_succeeded() == 1


def test_lost_answer_then_retry_finds_the_one_charge() -> None:
    gateway = FakeGateway()
    saved = gateway.save_card(customer_ref=None, token="pm_card_visa", reference="pat-1")
    request = _request(saved.payment_method_ref, saved.customer_ref)
    gateway.fail_next(after_charging=True)
    with pytest.raises(GatewayUnavailable):
        gateway.charge(request)
    assert gateway.charges_succeeded() == 1  # the money moved although the caller saw an error

    retried = gateway.charge(request)

    assert retried.succeeded
    assert retried.reference == gateway.charges()[0].reference
    assert gateway.charges_succeeded() == 1


def test_a_ledger_file_survives_a_restart_and_is_shared(tmp_path: Path) -> None:
    """A restarted process (a new instance on the same file) sees the earlier charge under its key:
    the same key replays it, `find_charge` reports it, and nothing is charged twice."""
    path = tmp_path / "fake-gateway.sqlite"
    first = FakeGateway(ledger_path=path)
    card = first.save_card(customer_ref=None, token="pm_card_visa", reference="pat-1")
    paid = first.charge(_request(card.payment_method_ref, card.customer_ref, key="inv-1-attempt-1"))
    first.close()

    restarted, beside = FakeGateway(ledger_path=path), FakeGateway(ledger_path=path)
    found = restarted.find_charge(idempotency_key="inv-1-attempt-1", customer_ref=card.customer_ref)
    assert found == paid
    assert restarted.find_charge(idempotency_key="inv-1-attempt-2", customer_ref=card.customer_ref) is None
    again = beside.charge(_request(card.payment_method_ref, card.customer_ref, key="inv-1-attempt-1"))
    assert again == paid
    assert [c.reference for c in restarted.charges()] == [paid.reference]
    other = beside.save_card(customer_ref=card.customer_ref, token="pm_card_visa", reference="pat-1")
    assert other.payment_method_ref != card.payment_method_ref  # ids keep counting after a restart
