"""Webhook signatures for Beluga and the pharmacies.

Neither vendor's public documents fix a scheme, so we fix one (API.md): the header
`X-Signature: t=<unix>,v1=<hex>` where `v1 = HMAC-SHA256(secret, f"{t}." + raw body)`.
Signing the timestamp with the body stops an old delivery being replayed with a fresh `t`;
the tolerance window bounds how long a captured delivery stays usable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime

from adapters.json_depth import MAX_JSON_DEPTH, nesting_exceeds

HEADER = "X-Signature"
DEFAULT_TOLERANCE_S = 300


class InvalidSignature(Exception):
    """The webhook cannot be trusted; `reason` is a short stable code safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _digest(secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `X-Signature` header value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or not value:
            raise InvalidSignature("malformed_header")
        if key == "t":
            if not value.isdigit() or timestamp is not None:
                raise InvalidSignature("malformed_header")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
        # Unknown keys are ignored so a future `v2` can be rolled out alongside `v1`.
    if timestamp is None or not signatures:
        raise InvalidSignature("malformed_header")
    return timestamp, signatures


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_S,
) -> None:
    """Return if `header` signs `body` with `secret` within `tolerance` of `now`; else raise."""
    if not header:
        raise InvalidSignature("missing_header")
    timestamp, signatures = _parse(header)
    if abs(now - timestamp) > tolerance:
        # Both directions: a far-future `t` would otherwise stay valid for a long time.
        raise InvalidSignature("timestamp_out_of_tolerance")
    expected = _digest(secret, body, timestamp)
    # compare_digest on every candidate, so timing reveals nothing about which part matched.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    if not matched:
        raise InvalidSignature("signature_mismatch")


class WebhookPayloadError(Exception):
    """A signed webhook body that does not have the shape we agreed with the vendor.

    `field` names the offending JSON field (or `body` when it is not a JSON object) so the
    API layer can answer 400/422 naming it; the message never echoes the value (it may be PHI).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# Field readers shared by the Beluga and pharmacy webhook parsers, so both name fields alike.


def load_object(body: bytes) -> dict[str, object]:
    if nesting_exceeds(body):
        raise WebhookPayloadError("body", f"nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise WebhookPayloadError("body", "not valid JSON") from exc
    if not isinstance(data, dict):
        raise WebhookPayloadError("body", "not a JSON object")
    return data


def required_str(data: Mapping[str, object], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise WebhookPayloadError(name, "required non-empty string")
    return value


def optional_str(data: Mapping[str, object], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise WebhookPayloadError(name, "must be a string or null")
    return value


def required_time(data: Mapping[str, object], name: str) -> datetime:
    raw = required_str(data, name)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise WebhookPayloadError(name, "not an RFC 3339 timestamp") from exc
    if parsed.tzinfo is None:
        # A naive time is ambiguous across vendors' servers: refuse rather than guess UTC.
        raise WebhookPayloadError(name, "RFC 3339 timestamp needs an offset")
    return parsed.astimezone(UTC)
