"""The in-process fake gateway: the demo's default, and the one most tests use.

It speaks Stripe's test tokens (`pm_card_visa`, `pm_card_chargeCustomerFail`, …) so a demo
script works the same against the fake and against Stripe in test mode. No network, no clock,
no randomness: ids come from counters, so a run is reproducible. Thread-safe (one lock) and
honours idempotency keys like Stripe: the same key returns the first outcome and never
charges twice. Its charge ledger (in memory, or a SQLite file it owns, which survives a
restart) lets tests count real charges and lets the reconciler ask about a key.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

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
    # Hard declines: the issuer says never to retry (subscription dunning stops at once).
    "pm_card_chargeDeclinedLostCard": _TestCard("visa", "9987", "lost_card"),
    "pm_card_chargeDeclinedStolenCard": _TestCard("visa", "9979", "stolen_card"),
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


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS fake_ids (n INTEGER PRIMARY KEY AUTOINCREMENT)",
    "CREATE TABLE IF NOT EXISTS fake_methods (ref TEXT PRIMARY KEY, customer_ref TEXT NOT NULL,"
    " token TEXT NOT NULL)",
    # One row per idempotency key: the request as first sent and the outcome it got.
    "CREATE TABLE IF NOT EXISTS fake_charges (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " idempotency_key TEXT NOT NULL UNIQUE, request TEXT NOT NULL, succeeded INTEGER NOT NULL,"
    " reference TEXT, decline_code TEXT, message TEXT)",
    "CREATE TABLE IF NOT EXISTS fake_refunds (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " idempotency_key TEXT NOT NULL UNIQUE, charge_reference TEXT NOT NULL, amount_cents INTEGER NOT NULL,"
    " succeeded INTEGER NOT NULL, reference TEXT, message TEXT)",
)


def _request_json(request: ChargeRequest) -> str:
    return json.dumps(asdict(request), sort_keys=True)


class FakeGateway:
    """`PaymentGateway` over its own small SQLite ledger.

    Without `ledger_path` the ledger lives in memory (one instance per test). With a path it is a
    file the gateway owns, shared by every process that opens it (each write is one `BEGIN
    IMMEDIATE` transaction), so a restarted server or a separate worker sees the charges an
    earlier process made: the payment reconciler can then ask it what happened under a key.
    """

    def __init__(self, name: str = "fake", ledger_path: Path | None = None) -> None:
        self.name = name
        self._lock = threading.Lock()
        target = str(ledger_path) if ledger_path is not None else ":memory:"
        self._db = sqlite3.connect(target, timeout=30.0, isolation_level=None, check_same_thread=False)
        with self._lock:
            if ledger_path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
            for statement in _SCHEMA:
                self._db.execute(statement)
        self._fail_next = 0
        self._fail_after_charging = False

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- the port -------------------------------------------------------------------------

    def save_card(self, *, customer_ref: str | None, token: str, reference: str) -> SavedCard:
        if not token.startswith("pm_card_"):
            raise InvalidPaymentToken("No such PaymentMethod: the token is not a test card token")
        if token in _REFUSED_AT_SAVE:
            raise InvalidPaymentToken(_DECLINED)
        card = _CARDS.get(token, _UNKNOWN_CARD)
        with self._tx() as db:
            customer = customer_ref if customer_ref is not None else f"fcus_{reference}"
            # The token is embedded so the ref still says how to behave after a restart.
            ref = f"fpm_{_next(db)}_{token}"
            db.execute("INSERT INTO fake_methods VALUES (?, ?, ?)", (ref, customer, token))
        return SavedCard(customer_ref=customer, payment_method_ref=ref, brand=card.brand, last4=card.last4)

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        with self._tx() as db:
            row = db.execute(
                "SELECT request, succeeded, reference, decline_code, message FROM fake_charges"
                " WHERE idempotency_key = ?",
                (request.idempotency_key,),
            ).fetchone()
            if row is not None:
                if row[0] != _request_json(request):
                    # Stripe answers a reused key with different parameters by an error.
                    raise GatewayError("idempotency key reused with different parameters")
                self._maybe_fail(before=True)
                return ChargeOutcome(bool(row[1]), row[2], row[3], row[4])
            self._maybe_fail(before=True)
            outcome = self._charge_once(db, request)
            db.execute(
                "INSERT INTO fake_charges (idempotency_key, request, succeeded, reference, decline_code,"
                " message) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    request.idempotency_key,
                    _request_json(request),
                    int(outcome.succeeded),
                    outcome.reference,
                    outcome.decline_code,
                    outcome.message,
                ),
            )
        # "Charged, but the answer was lost": the retry with the same key finds the charge.
        with self._lock:
            self._maybe_fail(before=False)
        return outcome

    def find_charge(self, *, idempotency_key: str, customer_ref: str) -> ChargeOutcome | None:
        with self._lock:
            row = self._db.execute(
                "SELECT succeeded, reference, decline_code, message FROM fake_charges"
                " WHERE idempotency_key = ?",
                (idempotency_key,),
            ).fetchone()
        return None if row is None else ChargeOutcome(bool(row[0]), row[1], row[2], row[3])

    def refund(self, *, idempotency_key: str, charge_reference: str, amount_cents: int) -> RefundOutcome:
        with self._tx() as db:
            row = db.execute(
                "SELECT charge_reference, amount_cents, succeeded, reference, message FROM fake_refunds"
                " WHERE idempotency_key = ?",
                (idempotency_key,),
            ).fetchone()
            if row is not None:
                if (row[0], row[1]) != (charge_reference, amount_cents):
                    raise GatewayError("idempotency key reused with different parameters")
                return RefundOutcome(bool(row[2]), row[3], row[4])
            outcome = self._refund_once(db, charge_reference, amount_cents)
            db.execute(
                "INSERT INTO fake_refunds (idempotency_key, charge_reference, amount_cents, succeeded,"
                " reference, message) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    idempotency_key,
                    charge_reference,
                    amount_cents,
                    int(outcome.succeeded),
                    outcome.reference,
                    outcome.message,
                ),
            )
            return outcome

    # -- for tests ------------------------------------------------------------------------

    def charges(self) -> list[FakeCharge]:
        """Every charge attempt that reached the gateway, in order (idempotent replays excluded)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT reference, idempotency_key, request, succeeded, decline_code FROM fake_charges"
                " WHERE reference IS NOT NULL ORDER BY seq"
            ).fetchall()
        found = []
        for reference, key, raw, succeeded, decline_code in rows:
            request = json.loads(raw)
            found.append(
                FakeCharge(
                    reference=reference,
                    idempotency_key=key,
                    amount_cents=request["amount_cents"],
                    currency=request["currency"],
                    customer_ref=request["customer_ref"],
                    payment_method_ref=request["payment_method_ref"],
                    succeeded=bool(succeeded),
                    decline_code=decline_code,
                    metadata=dict(request["metadata"]),
                )
            )
        return found

    def charges_succeeded(self) -> int:
        return sum(1 for c in self.charges() if c.succeeded)

    def refunds(self) -> list[FakeRefund]:
        with self._lock:
            rows = self._db.execute(
                "SELECT reference, idempotency_key, charge_reference, amount_cents FROM fake_refunds"
                " WHERE succeeded = 1 ORDER BY seq"
            ).fetchall()
        return [FakeRefund(r[0], r[1], r[2], r[3]) for r in rows]

    def fail_next(self, count: int = 1, *, after_charging: bool = False) -> None:
        """Make the next `count` charge calls raise `GatewayUnavailable`.

        With `after_charging`, the charge is made first and only the answer is lost: the case
        where the ledger must retry with the same key and find the payment, not pay twice.
        """
        with self._lock:
            self._fail_next = count
            self._fail_after_charging = after_charging

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- internals (called with the lock held) --------------------------------------------

    def _maybe_fail(self, *, before: bool) -> None:
        if self._fail_next > 0 and self._fail_after_charging != before:
            self._fail_next -= 1
            raise GatewayUnavailable("fake gateway: simulated network failure")

    def _charge_once(self, db: sqlite3.Connection, request: ChargeRequest) -> ChargeOutcome:
        if request.amount_cents <= 0:
            return ChargeOutcome(
                False, None, "amount_too_small", "Amount must be a positive number of cents."
            )
        method = db.execute(
            "SELECT customer_ref, token FROM fake_methods WHERE ref = ?", (request.payment_method_ref,)
        ).fetchone()
        token = method[1] if method else _token_from_ref(request.payment_method_ref)
        if token is None:
            return ChargeOutcome(False, None, "resource_missing", "No such PaymentMethod for this customer.")
        if method is not None and method[0] != request.customer_ref:
            return ChargeOutcome(
                False,
                None,
                "payment_method_not_attached",
                "The payment method does not belong to this customer.",
            )
        card = _CARDS.get(token, _UNKNOWN_CARD)
        reference = f"fpi_{_next(db)}"
        if card.decline_code is None:
            return ChargeOutcome(True, reference)
        return ChargeOutcome(False, reference, card.decline_code, card.message)

    def _refund_once(self, db: sqlite3.Connection, charge_reference: str, amount_cents: int) -> RefundOutcome:
        charge = db.execute(
            "SELECT succeeded, request FROM fake_charges WHERE reference = ?", (charge_reference,)
        ).fetchone()
        if charge is None:
            return RefundOutcome(False, None, f"No such charge: '{charge_reference}'")
        if not charge[0]:
            return RefundOutcome(False, None, "Cannot refund a failed payment.")
        (refunded,) = db.execute(
            "SELECT COALESCE(SUM(amount_cents), 0) FROM fake_refunds"
            " WHERE charge_reference = ? AND succeeded = 1",
            (charge_reference,),
        ).fetchone()
        if amount_cents <= 0 or refunded + amount_cents > json.loads(charge[1])["amount_cents"]:
            return RefundOutcome(False, None, "Refund amount is more than the amount left on the charge.")
        return RefundOutcome(True, f"fre_{_next(db)}")


def _next(db: sqlite3.Connection) -> int:
    cursor = db.execute("INSERT INTO fake_ids DEFAULT VALUES")
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _token_from_ref(ref: str) -> str | None:
    """`fpm_<n>_<token>` -> `<token>`: a ref saved by an earlier process still charges."""
    prefix, _, rest = ref.partition("_")
    number, _, token = rest.partition("_")
    if prefix != "fpm" or not number.isdigit() or not token.startswith("pm_card_"):
        return None
    return token
