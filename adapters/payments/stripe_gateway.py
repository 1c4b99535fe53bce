"""Stripe behind the payment port, through the official `stripe` SDK (v16 `StripeClient`).

Every `stripe` exception is translated here; nothing from the SDK leaves this module.
A decline is an outcome (`ChargeOutcome(succeeded=False)`), not an error. Errors that leave
the outcome unknown (network, 5xx, rate limit) become `GatewayUnavailable` so the caller
retries with the same idempotency key instead of recording a failure that may be false.
"""

from __future__ import annotations

from typing import NoReturn

import stripe

from adapters.payments.port import (
    ChargeOutcome,
    ChargeRequest,
    GatewayError,
    GatewayUnavailable,
    InvalidPaymentToken,
    RefundOutcome,
    SavedCard,
)

# Refunds Stripe has accepted; `pending` ones settle later without further action from us.
_REFUND_ACCEPTED = frozenset({"succeeded", "pending"})
# A PaymentIntent in these states has no outcome yet: ask again later.
_UNSETTLED = frozenset({"processing", "requires_capture", "requires_confirmation"})
KEY_METADATA = "ledger_idempotency_key"


def _raise_translated(exc: stripe.StripeError) -> NoReturn:
    """Map an SDK error that is not a business outcome onto the port's errors."""
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError | stripe.APIError):
        # APIError covers 5xx and unparseable answers: the request may or may not have landed.
        raise GatewayUnavailable(f"stripe unavailable: {_describe(exc)}") from exc
    # Authentication, permission, idempotency-key misuse: configuration or ledger bugs.
    raise GatewayError(f"stripe refused the request: {_describe(exc)}") from exc


def _metadata(intent: stripe.PaymentIntent) -> dict[str, str]:
    return dict(intent.metadata.to_dict()) if intent.metadata is not None else {}


def _intent_outcome(intent: stripe.PaymentIntent) -> ChargeOutcome:
    if intent.status == "succeeded":
        return ChargeOutcome(succeeded=True, reference=intent.id)
    # A plain dict: localstripe's error carries only some of Stripe's fields.
    error = intent.last_payment_error.to_dict() if intent.last_payment_error is not None else {}
    return ChargeOutcome(
        succeeded=False,
        reference=intent.id,
        decline_code=error.get("decline_code") or error.get("code") or intent.status,
        message=error.get("message") or f"payment not completed (status {intent.status})",
    )


def _describe(exc: stripe.StripeError) -> str:
    return exc.user_message or type(exc).__name__


def _declined(exc: stripe.StripeError) -> ChargeOutcome:
    """A refused charge. Stripe puts the PaymentIntent on the error; localstripe only the charge."""
    err = exc.error
    reference: str | None = None
    decline_code = exc.code
    if err is not None:
        if err.payment_intent is not None:
            reference = err.payment_intent.id
        elif err.charge is not None:
            reference = err.charge
        # `decline_code` is the issuer's reason (insufficient_funds, ...); `code` the generic one.
        decline_code = err.decline_code or err.code or exc.code
    return ChargeOutcome(
        succeeded=False,
        reference=reference,
        decline_code=decline_code,
        message=exc.user_message,
    )


class StripeGateway:
    """`PaymentGateway` over Stripe (or any Stripe-compatible base URL, e.g. localstripe)."""

    def __init__(
        self,
        api_key: str,
        api_base: str | None = None,
        name: str = "stripe",
        *,
        timeout_s: float = 30.0,
        max_network_retries: int = 2,
    ) -> None:
        self.name = name
        # Sync calls on HTTPXClient must be enabled explicitly; retries are safe because
        # every POST carries an idempotency key (ours, or one the SDK generates).
        self._http = stripe.HTTPXClient(timeout=timeout_s, allow_sync_methods=True)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._http.close()  # type: ignore[no-untyped-call]

    def save_card(self, *, customer_ref: str | None, token: str, reference: str) -> SavedCard:
        try:
            if customer_ref is None:
                customer = self._client.v1.customers.create(
                    params={"metadata": {"ledger_ref": reference}},
                    # A retried save for the same patient finds the customer made the first time.
                    options={"idempotency_key": f"ledger-customer-{reference}"},
                )
                customer_ref = customer.id
            method = self._client.v1.payment_methods.attach(token, params={"customer": customer_ref})
        except (stripe.InvalidRequestError, stripe.CardError) as exc:
            # Unknown token (404) or a card refused when attached (402): the token is unusable.
            raise InvalidPaymentToken(exc.user_message or "payment method refused") from exc
        except stripe.StripeError as exc:
            _raise_translated(exc)
        card = method.card
        return SavedCard(
            customer_ref=customer_ref,
            payment_method_ref=method.id,
            brand=card.brand if card is not None else None,
            last4=card.last4 if card is not None else None,
        )

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        try:
            intent = self._client.v1.payment_intents.create(
                params={
                    "amount": request.amount_cents,
                    "currency": request.currency,
                    "customer": request.customer_ref,
                    "payment_method": request.payment_method_ref,
                    # Charge now, with no customer present to complete 3-D Secure: Stripe then
                    # declines with `authentication_required` instead of waiting for action.
                    "confirm": True,
                    "off_session": True,
                    # Our key travels with the intent, so the reconciler can find it again.
                    "metadata": {**request.metadata, KEY_METADATA: request.idempotency_key},
                    # `request.description` is not sent: it may name a product (PHI must not
                    # reach the gateway) and localstripe rejects the field anyway.
                },
                options={"idempotency_key": request.idempotency_key},
            )
        except stripe.CardError as exc:
            return _declined(exc)
        except stripe.IdempotencyError as exc:
            _raise_translated(exc)
        except stripe.InvalidRequestError as exc:
            # e.g. a payment method not attached to this customer, amount below the minimum:
            # nothing was charged, so it is a refusal the invoice can record and retry.
            return ChargeOutcome(
                succeeded=False,
                reference=None,
                decline_code=exc.code or "invalid_request",
                message=exc.user_message,
            )
        except stripe.StripeError as exc:
            _raise_translated(exc)
        return _intent_outcome(intent)

    def find_charge(self, *, idempotency_key: str, customer_ref: str) -> ChargeOutcome | None:
        """Find the PaymentIntent made under our key among the customer's recent charges.

        Stripe keeps idempotency keys for 24 hours only, and localstripe not at all: asking by
        metadata is what makes re-driving an interrupted charge safe at any age. The customer's
        last 100 charges are searched (a charge attempt we re-drive is minutes old)."""
        try:
            charges = self._client.v1.charges.list(params={"customer": customer_ref, "limit": 100})
            seen: set[str] = set()
            for charge in charges.data:
                intent_id = charge.payment_intent
                if not isinstance(intent_id, str) or intent_id in seen:
                    continue
                seen.add(intent_id)
                intent = self._client.v1.payment_intents.retrieve(intent_id)
                if _metadata(intent).get(KEY_METADATA) == idempotency_key:
                    if intent.status in _UNSETTLED:
                        raise GatewayUnavailable(f"stripe: payment {intent.id} is still {intent.status}")
                    return _intent_outcome(intent)
        except stripe.InvalidRequestError:
            return None  # no such customer: nothing was ever charged to it
        except stripe.StripeError as exc:
            _raise_translated(exc)
        return None

    def refund(self, *, idempotency_key: str, charge_reference: str, amount_cents: int) -> RefundOutcome:
        # Our charge references are PaymentIntent ids; accept a bare charge id too.
        params: stripe.params.RefundCreateParams = {"amount": amount_cents}
        if charge_reference.startswith("ch_"):
            params["charge"] = charge_reference
        else:
            params["payment_intent"] = charge_reference
        try:
            refund = self._client.v1.refunds.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        except stripe.InvalidRequestError as exc:
            # Already refunded, failed payment, unknown intent: a definite "no".
            return RefundOutcome(succeeded=False, reference=None, message=exc.user_message)
        except stripe.StripeError as exc:
            _raise_translated(exc)
        return RefundOutcome(
            succeeded=refund.status in _REFUND_ACCEPTED,
            reference=refund.id,
            message=None if refund.status in _REFUND_ACCEPTED else f"refund {refund.status}",
        )
