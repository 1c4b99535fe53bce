"""The in-process fake gateway: the demo's default, and the one most tests use.

It speaks Stripe's test tokens (`pm_card_visa`, `pm_card_chargeCustomerFail`, …) so a demo
script works the same against the fake and against Stripe in test mode. No network, no clock,
no randomness: ids come from counters, so a run is reproducible. Thread-safe (one lock) and
honours idempotency keys like Stripe: the same key returns the first outcome and never
charges twice. The charge ledger lets tests count real charges.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from adapters.payments.port import (
    ChargeOutcome,
    ChargeRequest,
    GatewayError,
    GatewayUnavailable,
    InvalidPaymentToken,
    RefundOutcome,
    SavedCard,
)

_DECLINED = "Your card was declined."


@dataclass(frozen=True)
class _TestCard:
    brand: str | None
    last4: str | None
    decline_code: str | None = None  # set: the card saves fine but every charge declines
    message: str = _DECLINED


# Stripe's test PaymentMethod tokens (docs.stripe.com/testing), with their real last4.
_CARDS: dict[str, _TestCard] = {
    "pm_card_visa": _TestCard("visa", "4242"),
    "pm_card_visa_debit": _TestCard("visa", "5556"),
    "pm_card_mastercard": _TestCard("mastercard", "4444"),
    "pm_card_mastercard_debit": _TestCard("mastercard", "8210"),
    "pm_card_amex": _TestCard("amex", "8431"),
    "pm_card_discover": _TestCard("discover", "1117"),
    "pm_card_diners": _TestCard("diners", "0004"),
    "pm_card_jcb": _TestCard("jcb", "0505"),
    "pm_card_unionpay": _TestCard("unionpay", "0005"),
    "pm_card_chargeCustomerFail": _TestCard("visa", "0341", "card_declined"),
    # Stripe refuses these already when attached; the fake lets them save so the demo can show
    # each decline reason at charge time, where the ledger records it.
    "pm_card_chargeDeclinedInsufficientFunds": _TestCard(
        "visa", "9995", "insufficient_funds", "Your card has insufficient funds."
    ),
    "pm_card_chargeDeclinedExpiredCard": _TestCard("visa", "0069", "expired_card", "Your card has expired."),
    "pm_card_chargeDeclinedIncorrectCvc": _TestCard(
        "visa", "0127", "incorrect_cvc", "Your card's security code is incorrect."
    ),
    "pm_card_chargeDeclinedFraudulent": _TestCard("visa", "0019", "fraudulent"),
    "pm_card_chargeDeclinedProcessingError": _TestCard(
        "visa", "0119", "processing_error", "An error occurred while processing your card."
    ),
}
# Tokens whose card the issuer refuses at once, as Stripe does when attaching them.
_REFUSED_AT_SAVE = frozenset({"pm_card_chargeDeclined", "pm_card_visa_chargeDeclined"})
_UNKNOWN_CARD = _TestCard(None, None)  # any other `pm_card_…`: a card that pays


@dataclass(frozen=True)
class FakeCharge:
    """One entry of the fake's charge ledger (declines included, as Stripe records them)."""

    reference: str
    idempotency_key: str
    amount_cents: int
    currency: str
    customer_ref: str
    payment_method_ref: str
    succeeded: bool
    decline_code: str | None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FakeRefund:
    reference: str
    idempotency_key: str
    charge_reference: str
    amount_cents: int


@dataclass(frozen=True)
class _SavedMethod:
    customer_ref: str
    token: str


class FakeGateway:
    """`PaymentGateway` in memory. One instance per process (or per test)."""

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._counter = 0
        self._methods: dict[str, _SavedMethod] = {}
        self._charges: list[FakeCharge] = []
        self._by_charge_key: dict[str, tuple[ChargeRequest, ChargeOutcome]] = {}
        self._refunds: list[FakeRefund] = []
        self._by_refund_key: dict[str, tuple[tuple[str, int], RefundOutcome]] = {}
        self._fail_next = 0
        self._fail_after_charging = False

    # -- the port -------------------------------------------------------------------------

    def save_card(self, *, customer_ref: str | None, token: str, reference: str) -> SavedCard:
        if not token.startswith("pm_card_"):
            raise InvalidPaymentToken("No such PaymentMethod: the token is not a test card token")
        if token in _REFUSED_AT_SAVE:
            raise InvalidPaymentToken(_DECLINED)
        card = _CARDS.get(token, _UNKNOWN_CARD)
        with self._lock:
            customer = customer_ref if customer_ref is not None else f"fcus_{reference}"
            # The token is embedded so the ref still says how to behave after a restart.
            ref = f"fpm_{self._next()}_{token}"
            self._methods[ref] = _SavedMethod(customer, token)
        return SavedCard(customer_ref=customer, payment_method_ref=ref, brand=card.brand, last4=card.last4)

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        with self._lock:
            earlier = self._by_charge_key.get(request.idempotency_key)
            if earlier is not None:
                first_request, outcome = earlier
                if first_request != request:
                    # Stripe answers a reused key with different parameters by an error.
                    raise GatewayError("idempotency key reused with different parameters")
                self._maybe_fail(before=True)
                return outcome
            self._maybe_fail(before=True)
            outcome = self._charge_once(request)
            self._by_charge_key[request.idempotency_key] = (request, outcome)
            # "Charged, but the answer was lost": the retry with the same key finds the charge.
            self._maybe_fail(before=False)
            return outcome

    def refund(self, *, idempotency_key: str, charge_reference: str, amount_cents: int) -> RefundOutcome:
        with self._lock:
            earlier = self._by_refund_key.get(idempotency_key)
            if earlier is not None:
                if earlier[0] != (charge_reference, amount_cents):
                    raise GatewayError("idempotency key reused with different parameters")
                return earlier[1]
            outcome = self._refund_once(idempotency_key, charge_reference, amount_cents)
            self._by_refund_key[idempotency_key] = ((charge_reference, amount_cents), outcome)
            return outcome

    # -- for tests ------------------------------------------------------------------------

    def charges(self) -> list[FakeCharge]:
        """Every charge attempt that reached the gateway, in order (idempotent replays excluded)."""
        with self._lock:
            return list(self._charges)

    def charges_succeeded(self) -> int:
        with self._lock:
            return sum(1 for c in self._charges if c.succeeded)

    def refunds(self) -> list[FakeRefund]:
        with self._lock:
            return list(self._refunds)

    def fail_next(self, count: int = 1, *, after_charging: bool = False) -> None:
        """Make the next `count` charge calls raise `GatewayUnavailable`.

        With `after_charging`, the charge is made first and only the answer is lost: the case
        where the ledger must retry with the same key and find the payment, not pay twice.
        """
        with self._lock:
            self._fail_next = count
            self._fail_after_charging = after_charging

    # -- internals (called with the lock held) --------------------------------------------

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _maybe_fail(self, *, before: bool) -> None:
        if self._fail_next > 0 and self._fail_after_charging != before:
            self._fail_next -= 1
            raise GatewayUnavailable("fake gateway: simulated network failure")

    def _charge_once(self, request: ChargeRequest) -> ChargeOutcome:
        if request.amount_cents <= 0:
            return ChargeOutcome(
                False, None, "amount_too_small", "Amount must be a positive number of cents."
            )
        method = self._methods.get(request.payment_method_ref)
        token = method.token if method else _token_from_ref(request.payment_method_ref)
        if token is None:
            return ChargeOutcome(False, None, "resource_missing", "No such PaymentMethod for this customer.")
        if method is not None and method.customer_ref != request.customer_ref:
            return ChargeOutcome(
                False,
                None,
                "payment_method_not_attached",
                "The payment method does not belong to this customer.",
            )
        card = _CARDS.get(token, _UNKNOWN_CARD)
        reference = f"fpi_{self._next()}"
        succeeded = card.decline_code is None
        self._charges.append(
            FakeCharge(
                reference=reference,
                idempotency_key=request.idempotency_key,
                amount_cents=request.amount_cents,
                currency=request.currency,
                customer_ref=request.customer_ref,
                payment_method_ref=request.payment_method_ref,
                succeeded=succeeded,
                decline_code=card.decline_code,
                metadata=dict(request.metadata),
            )
        )
        if succeeded:
            return ChargeOutcome(True, reference)
        return ChargeOutcome(False, reference, card.decline_code, card.message)

    def _refund_once(self, key: str, charge_reference: str, amount_cents: int) -> RefundOutcome:
        charge = next((c for c in self._charges if c.reference == charge_reference), None)
        if charge is None:
            return RefundOutcome(False, None, f"No such charge: '{charge_reference}'")
        if not charge.succeeded:
            return RefundOutcome(False, None, "Cannot refund a failed payment.")
        refunded = sum(r.amount_cents for r in self._refunds if r.charge_reference == charge_reference)
        if amount_cents <= 0 or refunded + amount_cents > charge.amount_cents:
            return RefundOutcome(False, None, "Refund amount is more than the amount left on the charge.")
        reference = f"fre_{self._next()}"
        self._refunds.append(FakeRefund(reference, key, charge_reference, amount_cents))
        return RefundOutcome(True, reference)


def _token_from_ref(ref: str) -> str | None:
    """`fpm_<n>_<token>` -> `<token>`: a ref saved by an earlier process still charges."""
    prefix, _, rest = ref.partition("_")
    number, _, token = rest.partition("_")
    if prefix != "fpm" or not number.isdigit() or not token.startswith("pm_card_"):
        return None
    return token
