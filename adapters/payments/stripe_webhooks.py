"""Verify and read Stripe webhooks (`POST /webhooks/stripe`).

The signature is checked by the SDK over the raw request body, before any parsing: a body
re-serialised by a framework would no longer match. Only the few fields the ledger needs are
lifted into `StripeEvent`; the raw body is what the caller stores.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import stripe

from adapters.webhook_signature import load_object

DEFAULT_TOLERANCE_S = 300  # Stripe's own default: older deliveries are refused as replays


class InvalidWebhookSignature(Exception):
    """The body is not a recent delivery signed with our secret (answer 401)."""


@dataclass(frozen=True)
class StripeEvent:
    id: str  # `evt_…`: the dedup key for repeat deliveries
    type: str  # e.g. `payment_intent.succeeded`, `payment_intent.payment_failed`
    payment_intent_id: str | None
    metadata: dict[str, str] = field(default_factory=dict)  # our ledger ids, set at charge time
    amount: int | None = None
    decline_code: str | None = None
    message: str | None = None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _payment_intent_id(obj: Mapping[str, Any]) -> str | None:
    if obj.get("object") == "payment_intent":
        return _str_or_none(obj.get("id"))
    # Charges and refunds point at their intent, as an id or (when expanded) an object.
    ref = obj.get("payment_intent")
    if isinstance(ref, Mapping):
        return _str_or_none(ref.get("id"))
    return _str_or_none(ref)


def _failure(obj: Mapping[str, Any]) -> tuple[str | None, str | None]:
    error = obj.get("last_payment_error")
    if isinstance(error, Mapping):  # a PaymentIntent
        code = _str_or_none(error.get("decline_code")) or _str_or_none(error.get("code"))
        return code, _str_or_none(error.get("message"))
    # A Charge carries its failure flat.
    return _str_or_none(obj.get("failure_code")), _str_or_none(obj.get("failure_message"))


def parse_stripe_event(
    payload: bytes, sig_header: str, secret: str, *, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> StripeEvent:
    """Verify `Stripe-Signature` over the raw `payload` (the SDK, before anything is parsed), then read
    the body as the JSON object every event is. A verified body that is not one (not JSON, an array, a
    string, nested too deep) raises `WebhookPayloadError`, as the other vendors' parsers do: it is kept
    and answered 422, never handed to the SDK's event constructor, which expects an object."""
    try:
        stripe.WebhookSignature.verify_header(payload, sig_header, secret, tolerance_s)
    except stripe.SignatureVerificationError as exc:
        # The SDK's message says which check failed and carries no body content.
        raise InvalidWebhookSignature(str(exc)) from exc
    except UnicodeDecodeError as exc:
        # The SDK signs the body's text: bytes that are not UTF-8 cannot be verified at all.
        raise InvalidWebhookSignature("the body is not UTF-8 text") from exc
    return _extract(load_object(payload))


def read_verified_event(payload: bytes) -> StripeEvent:
    """Re-read a body whose signature was verified when it was stored (a worker re-processing it)."""
    try:
        raw = json.loads(payload)
    except ValueError as exc:
        raise InvalidWebhookSignature("stored body is not a JSON event") from exc
    if not isinstance(raw, dict):
        raise InvalidWebhookSignature("stored body is not a JSON event")
    return _extract(raw)


def _extract(raw: dict[str, Any]) -> StripeEvent:
    data = raw.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        obj = {}
    metadata = obj.get("metadata")
    amount = obj.get("amount")
    decline_code, message = _failure(obj)
    return StripeEvent(
        id=str(raw.get("id", "")),
        type=str(raw.get("type", "")),
        payment_intent_id=_payment_intent_id(obj),
        metadata=({str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, Mapping) else {}),
        amount=amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
        decline_code=decline_code,
        message=message,
    )


def sign_stripe_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """A valid `Stripe-Signature` header for `payload` at `timestamp`, for tests and the demo.

    Written independently of the SDK (which verifies it) so tests check the scheme, not the
    SDK against itself: `v1` = hex HMAC-SHA256 of `f"{t}.{payload}"` keyed with the secret.
    """
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
