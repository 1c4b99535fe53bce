"""Inbound webhooks: verify the signature on the raw body, store the delivery raw, then apply it.

Not `endpoint`s: vendors authenticate by signature, not bearer token, and the body must be read
as bytes (a re-serialised body no longer matches its signature). Answers: 401 problem for a bad or
stale signature (nothing stored), 422 for a signed body of the wrong shape (kept for audit), 200
once stored — whether this delivery was new (`duplicate: false`) or a repeat that changed nothing.
"""

from __future__ import annotations

import hashlib
from typing import Any

import structlog
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.beluga import parse_beluga_webhook
from adapters.payments.stripe_webhooks import InvalidWebhookSignature, parse_stripe_event
from adapters.pharmacy import BELMAR, DISPENSEPRO, WEBHOOK_STATUSES, parse_pharmacy_webhook
from adapters.webhook_signature import HEADER, InvalidSignature, WebhookPayloadError, verify
from api.problems import FieldError, problem
from api.runtime import Runtime
from service import webhooks
from service.webhooks import Receipt

log = structlog.get_logger(__name__)
PARTNERS = (BELMAR, DISPENSEPRO)


class WebhookAck(BaseModel):
    received: bool
    duplicate: bool
    event_id: str
    outcome: str  # applied | stale (recorded, not applied) | already_applied | ignored | unmatched


def _ack(event_id: str, receipt: Receipt) -> Response:
    body = WebhookAck(received=True, duplicate=receipt.duplicate, event_id=event_id, outcome=receipt.outcome)
    return JSONResponse(body.model_dump())


def _unauthorized(vendor: str, reason: str) -> Response:
    log.warning("webhook.rejected", vendor=vendor, reason=reason)
    return problem(
        401,
        "Unauthorized",
        "The webhook signature is missing, wrong or stale.",
        reasons=("INVALID_SIGNATURE",),
    )


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _org(runtime: Runtime) -> str:
    return runtime.organization_id


async def _malformed(
    runtime: Runtime, vendor: str, raw: bytes, signature: str | None, exc: WebhookPayloadError
) -> Response:
    # Signed by the vendor, so kept (keyed by its digest) for whoever investigates; never applied.
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    await run_in_threadpool(
        webhooks.store_raw, runtime.deps, _org(runtime), vendor, digest, webhooks.UNPARSEABLE, raw, signature
    )
    return problem(
        422,
        "Invalid request",
        f"Invalid webhook body: {exc.field}.",
        reasons=("VALIDATION_FAILED",),
        errors=[FieldError(field=exc.field, message=exc.message)],
    )


def _verify_hmac(runtime: Runtime, secret_name: str, raw: bytes, header: str | None) -> str | None:
    secret = runtime.webhook_secrets.get(secret_name) or ""
    if not secret:
        return "no_secret_configured"
    try:
        verify(secret, header, raw, now=int(runtime.deps.clock().timestamp()))
    except InvalidSignature as exc:
        return exc.reason
    return None


async def beluga(request: Request) -> Response:
    runtime, raw, header = _runtime(request), await request.body(), request.headers.get(HEADER)
    failed = _verify_hmac(runtime, "beluga", raw, header)
    if failed:
        return _unauthorized("beluga", failed)
    try:
        wh = parse_beluga_webhook(raw)
    except WebhookPayloadError as exc:
        return await _malformed(runtime, webhooks.BELUGA, raw, header, exc)
    receipt = await run_in_threadpool(webhooks.receive_beluga, runtime.deps, _org(runtime), raw, header, wh)
    return _ack(wh.event_id, receipt)


async def pharmacy(request: Request) -> Response:
    partner = request.path_params["partner"]
    if partner not in PARTNERS:
        return problem(404, "Not Found", "No such pharmacy partner.")
    runtime, raw, header = _runtime(request), await request.body(), request.headers.get(HEADER)
    failed = _verify_hmac(runtime, "pharmacy", raw, header)
    if failed:
        return _unauthorized(webhooks.pharmacy_vendor(partner), failed)
    try:
        wh = parse_pharmacy_webhook(raw)
    except WebhookPayloadError as exc:
        return await _malformed(runtime, webhooks.pharmacy_vendor(partner), raw, header, exc)
    receipt = await run_in_threadpool(
        webhooks.receive_pharmacy, runtime.deps, _org(runtime), partner, raw, header, wh
    )
    return _ack(wh.event_id, receipt)


async def stripe(request: Request) -> Response:
    runtime, raw = _runtime(request), await request.body()
    header = request.headers.get("stripe-signature")
    secret = runtime.webhook_secrets.get("stripe") or ""
    if not secret or not header:
        return _unauthorized("stripe", "missing_header" if secret else "no_secret_configured")
    try:
        ev = parse_stripe_event(raw, header, secret)
    except InvalidWebhookSignature:
        return _unauthorized("stripe", "signature_mismatch")
    except WebhookPayloadError as exc:  # verified first, then read: signed, but not an event object
        return await _malformed(runtime, webhooks.STRIPE, raw, header, exc)
    if not ev.id:
        return problem(
            422,
            "Invalid request",
            "Invalid webhook body: id.",
            reasons=("VALIDATION_FAILED",),
            errors=[FieldError(field="id", message="required")],
        )
    receipt = await run_in_threadpool(webhooks.receive_stripe, runtime.deps, _org(runtime), raw, header, ev)
    return _ack(ev.id, receipt)


routes = [
    Route("/webhooks/stripe", stripe, methods=["POST"]),
    Route("/webhooks/beluga", beluga, methods=["POST"]),
    Route("/webhooks/pharmacies/{partner}", pharmacy, methods=["POST"]),
]


_TEXT: dict[str, Any] = {"type": "string", "minLength": 1}
_OPTIONAL_TEXT: dict[str, Any] = {"type": ["string", "null"]}
_TIME: dict[str, Any] = {"type": "string", "format": "date-time", "description": "RFC 3339, with an offset"}

# The bodies as API.md fixes them with each vendor (the parsers in adapters/ read exactly these); any
# other fields are ignored. A signed body that does not fit is kept and answered 422.
STRIPE_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["id", "type"],
    "properties": {
        "id": {**_TEXT, "description": "evt_…, the key repeat deliveries are recognised by"},
        "type": {**_TEXT, "examples": ["payment_intent.succeeded", "payment_intent.payment_failed"]},
        "data": {"type": "object", "properties": {"object": {"type": "object"}}},
    },
}
BELUGA_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["event", "eventId", "masterId", "occurredAt"],
    "properties": {
        "event": {**_TEXT, "examples": ["RX_WRITTEN", "CONSULT_CONCLUDED", "CONSULT_CANCELED"]},
        "eventId": _TEXT,
        "masterId": _TEXT,
        "occurredAt": _TIME,
        "medsPrescribed": {
            "type": ["array", "null"],
            "description": "At least one for RX_WRITTEN",
            "items": {
                "type": "object",
                "required": ["medId"],
                "properties": {"medId": _TEXT, "name": _OPTIONAL_TEXT},
            },
        },
        "visitOutcome": _OPTIONAL_TEXT,
    },
}
PHARMACY_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["eventId", "referenceId", "orderId", "status", "occurredAt"],
    "properties": {
        "eventId": _TEXT,
        "referenceId": {**_TEXT, "description": "Our order id"},
        "orderId": {**_TEXT, "description": "The pharmacy's own order id"},
        "status": {"type": "string", "enum": sorted(WEBHOOK_STATUSES)},
        "occurredAt": _TIME,
        "reason": _OPTIONAL_TEXT,
        "carrier": _OPTIONAL_TEXT,
        "tracking": _OPTIONAL_TEXT,
    },
}


def _operation(
    summary: str,
    signature_header: str,
    body: dict[str, Any],
    extra_params: list[dict[str, Any]],
    extra_responses: dict[str, Any],
) -> dict[str, Any]:
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    problem_body = {"content": {"application/problem+json": {"schema": problem_ref}}}
    return {
        "post": {
            "summary": summary,
            "tags": ["webhooks"],
            "security": [],
            "operationId": "post" + "".join(w.title() for w in summary.split()[:2]),
            "description": "Authenticated by the vendor's signature over the raw body; stored raw before "
            "processing; a repeat delivery changes nothing.",
            "parameters": [
                {
                    "name": signature_header,
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1},
                },
                *extra_params,
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body}},
            },
            "responses": {
                "200": {
                    "description": "Stored (and applied, or already applied)",
                    "content": {"application/json": {"schema": WebhookAck.model_json_schema()}},
                },
                "401": {"description": "Bad or stale signature", **problem_body},
                "422": {"description": "Signed body of the wrong shape", **problem_body},
                **{code: {"description": text, **problem_body} for code, text in extra_responses.items()},
            },
        }
    }


OPENAPI_PATHS: dict[str, Any] = {
    "/webhooks/stripe": _operation(
        "Stripe webhook (payment_intent.succeeded / payment_failed)", "Stripe-Signature", STRIPE_BODY, [], {}
    ),
    "/webhooks/beluga": _operation(
        "Beluga webhook (RX_WRITTEN, CONSULT_CONCLUDED, CONSULT_CANCELED)", HEADER, BELUGA_BODY, [], {}
    ),
    "/webhooks/pharmacies/{partner}": _operation(
        "Pharmacy webhook (accepted, rejected, processing, shipped, delivered)",
        HEADER,
        PHARMACY_BODY,
        [
            {
                "name": "partner",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "enum": list(PARTNERS)},
            }
        ],
        {"404": "Unknown partner"},
    ),
}
