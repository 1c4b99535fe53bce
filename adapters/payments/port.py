"""The payment gateway port: what the ledger needs from any card processor.

Adapters (the built-in `fake` gateway, Stripe) implement `PaymentGateway`. Foreign
exceptions never cross this boundary: adapters translate them into the errors below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class SavedCard:
    """A payment method as the gateway stored it for one customer."""

    customer_ref: str  # the gateway's customer id (Stripe `cus_…`)
    payment_method_ref: str  # the gateway's payment-method id (Stripe `pm_…`)
    brand: str | None = None
    last4: str | None = None


@dataclass(frozen=True)
class ChargeRequest:
    idempotency_key: str  # derived from the invoice id and attempt number
    amount_cents: int
    currency: str  # lower-case ISO 4217, as Stripe writes it
    customer_ref: str
    payment_method_ref: str
    description: str
    # Ledger ids only: never names, e-mails or products (no PHI at the gateway).
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChargeOutcome:
    succeeded: bool
    reference: str | None  # the gateway's charge / PaymentIntent id, when one was created
    decline_code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class RefundOutcome:
    succeeded: bool
    reference: str | None
    message: str | None = None


class GatewayError(Exception):
    """Base for errors an adapter raises instead of its SDK's own."""


class GatewayUnavailable(GatewayError):
    """The gateway could not be reached or answered with a server error: outcome unknown."""


class InvalidPaymentToken(GatewayError):
    """The token given to save a payment method was refused by the gateway."""


class PaymentGateway(Protocol):
    name: str

    def save_card(self, *, customer_ref: str | None, token: str, reference: str) -> SavedCard:
        """Store `token` for a customer, creating the customer when `customer_ref` is None.

        `reference` is the ledger's opaque patient id (never PHI).
        """
        ...

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        """Charge a saved payment method at once. A decline is an outcome, not an error."""
        ...

    def refund(self, *, idempotency_key: str, charge_reference: str, amount_cents: int) -> RefundOutcome: ...

    def find_charge(self, *, idempotency_key: str, customer_ref: str) -> ChargeOutcome | None:
        """The outcome of the charge made earlier under our `idempotency_key`, or None when the
        gateway never saw it (then charging under the same key is safe). Raises
        `GatewayUnavailable` when the gateway cannot say yet (unreachable, still processing)."""
        ...
