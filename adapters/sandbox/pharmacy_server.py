"""A local LifeFile (Belmar) and DispensePro in one app, speaking `adapters.pharmacy`'s formats.

Orders are deduped on (partner, our order id): a repeat returns the existing order with 200.
Control endpoints (not part of either partner's API):
  GET  /_sandbox/orders                                   every order, with its submission count
  POST /_sandbox/orders/{referenceId}/status/{status}     {"carrier", "tracking", "reason"}? ->
       signed webhook to webhook_url_for(partner); `?partner=` when two partners share the id
  POST /lifefile/v1/orders/{referenceId}/cancel, /dispensepro/api/orders/{external_order_id}/cancel
       the partners' cancel calls: 200 canceled, 404 unknown, 409 once shipped or delivered
  POST /_sandbox/fail-next                                {"status", "code", "message", "times"}
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.pharmacy import BELMAR, DISPENSEPRO, WEBHOOK_STATUSES
from adapters.sandbox.delivery import Clock, deliver, error, json_body, queue_failures, rfc3339


class PharmacySandboxState:
    def __init__(
        self, webhook_url_for: Callable[[str], str] | None, webhook_secret: str, api_key: str, clock: Clock
    ) -> None:
        self.webhook_url_for = webhook_url_for
        self.webhook_secret = webhook_secret
        self.api_key = api_key
        self.clock = clock
        self.lock = threading.Lock()
        self.orders: dict[tuple[str, str], dict[str, Any]] = {}
        self.failures: list[dict[str, Any]] = []


def _prescriber_invalid(
    prescriber: object, names: tuple[str, str, str, str], controlled: bool, field: str
) -> str | None:
    """A prescriber is a name + 10-digit NPI (+ DEA for a controlled line), or a network rx reference."""
    name, npi, dea, reference = names
    if not isinstance(prescriber, dict):
        return field
    if isinstance(prescriber.get(reference), str) and prescriber[reference] and npi not in prescriber:
        return None
    if not isinstance(prescriber.get(name), str) or not prescriber[name].strip():
        return f"{field}.{name}"
    if not isinstance(prescriber.get(npi), str) or not re.fullmatch(r"\d{10}", prescriber[npi]):
        return f"{field}.{npi}"
    if controlled and not (
        isinstance(prescriber.get(dea), str) and re.fullmatch(r"[A-Z]{2}\d{7}", prescriber[dea])
    ):
        return f"{field}.{dea}"
    return None


def _lifefile_invalid(payload: dict[str, Any]) -> str | None:
    """The first missing or malformed field of a LifeFile order, or None."""
    if not isinstance(payload.get("referenceId"), str) or not payload["referenceId"]:
        return "referenceId"
    patient = payload.get("patient")
    if not isinstance(patient, dict) or not patient.get("ref"):
        return "patient.ref"
    rxs = payload.get("rxs")
    if not isinstance(rxs, list) or not rxs:
        return "rxs"
    for i, rx in enumerate(rxs):
        for name in ("productCode", "sig"):
            if not isinstance(rx, dict) or not rx.get(name):
                return f"rxs[{i}].{name}"
    controlled = any(rx.get("controlled") is True for rx in rxs)
    return _prescriber_invalid(
        payload.get("prescriber"), ("name", "npi", "dea", "rxReference"), controlled, "prescriber"
    )


def _dispensepro_invalid(payload: dict[str, Any]) -> str | None:
    for name in ("external_order_id", "patient_ref"):
        if not isinstance(payload.get(name), str) or not payload[name]:
            return name
    items = payload.get("items")
    if not isinstance(items, list) or not items:
        return "items"
    for i, item in enumerate(items):
        for name in ("ndc_or_code", "directions"):
            if not isinstance(item, dict) or not item.get(name):
                return f"items[{i}].{name}"
    controlled = any(item.get("controlled") is True for item in items)
    return _prescriber_invalid(
        payload.get("prescriber"),
        ("full_name", "npi", "dea_number", "rx_reference"),
        controlled,
        "prescriber",
    )


def create_pharmacy_sandbox(
    webhook_url_for: Callable[[str], str] | None, webhook_secret: str, api_key: str, clock: Clock = time.time
) -> Starlette:
    state = PharmacySandboxState(webhook_url_for, webhook_secret, api_key, clock)

    def take_failure() -> dict[str, Any] | None:
        with state.lock:
            return state.failures.pop(0) if state.failures else None

    def record(partner: str, reference_id: str, payload: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        with state.lock:
            order = state.orders.get((partner, reference_id))
            created = order is None
            if order is None:
                prefix = "LF" if partner == BELMAR else "dp_"
                order = {
                    "partner": partner,
                    "referenceId": reference_id,
                    "orderId": f"{prefix}{uuid.uuid4().hex[:10]}",
                    "status": "received",
                    "request": payload,
                    "submissions": 0,
                    "events": [],
                }
                state.orders[(partner, reference_id)] = order
            order["submissions"] += 1
            return dict(order), created

    async def lifefile_order(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {state.api_key}":
            return error(401, "UNAUTHORIZED", "missing or wrong API key")
        failure = take_failure()
        if failure is not None:
            return error(failure["status"], failure["code"], failure["message"])
        try:
            payload = await json_body(request)
        except ValueError:
            return error(400, "INVALID_JSON", "body is not a JSON object")
        bad = _lifefile_invalid(payload)
        if bad is not None:
            return error(422, "INVALID_ORDER", f"missing or invalid field {bad}")
        order, created = record(BELMAR, payload["referenceId"], payload)
        return JSONResponse(
            {"orderId": order["orderId"], "status": order["status"]}, status_code=201 if created else 200
        )

    async def dispensepro_order(request: Request) -> Response:
        def reject(status: int, code: str, detail: str) -> Response:
            return JSONResponse({"error_code": code, "detail": detail}, status_code=status)

        if request.headers.get("x-api-key") != state.api_key:
            return reject(401, "unauthorized", "missing or wrong API key")
        failure = take_failure()
        if failure is not None:
            return reject(failure["status"], failure["code"], failure["message"])
        try:
            payload = await json_body(request)
        except ValueError:
            return reject(400, "invalid_json", "body is not a JSON object")
        bad = _dispensepro_invalid(payload)
        if bad is not None:
            return reject(422, "invalid_order", f"missing or invalid field {bad}")
        order, created = record(DISPENSEPRO, payload["external_order_id"], payload)
        return JSONResponse(
            {"id": order["orderId"], "state": order["status"]}, status_code=201 if created else 200
        )

    def cancel(partner: str, reference_id: str) -> tuple[int, str, str]:
        """(status, code, message): mark the order canceled unless it already left the pharmacy."""
        with state.lock:
            order = state.orders.get((partner, reference_id))
            if order is None:
                return 404, "NOT_FOUND", "no such order"
            if order["status"] in ("shipped", "delivered"):
                return 409, "TOO_LATE", f"the order is already {order['status']}"
            order["status"] = "canceled"
            order["cancellations"] = order.get("cancellations", 0) + 1
            return 200, "", ""

    async def lifefile_cancel(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {state.api_key}":
            return error(401, "UNAUTHORIZED", "missing or wrong API key")
        failure = take_failure()
        if failure is not None:
            return error(failure["status"], failure["code"], failure["message"])
        status, code, message = cancel(BELMAR, request.path_params["reference_id"])
        if status != 200:
            return error(status, code, message)
        return JSONResponse({"orderId": request.path_params["reference_id"], "status": "canceled"})

    async def dispensepro_cancel(request: Request) -> Response:
        if request.headers.get("x-api-key") != state.api_key:
            return JSONResponse({"error_code": "unauthorized", "detail": "wrong key"}, status_code=401)
        failure = take_failure()
        if failure is not None:
            return JSONResponse(
                {"error_code": failure["code"], "detail": failure["message"]}, status_code=failure["status"]
            )
        status, code, message = cancel(DISPENSEPRO, request.path_params["reference_id"])
        if status != 200:
            return JSONResponse({"error_code": code.lower(), "detail": message}, status_code=status)
        return JSONResponse({"id": request.path_params["reference_id"], "state": "canceled"})

    async def list_orders(request: Request) -> Response:
        with state.lock:
            return JSONResponse([dict(o) for o in state.orders.values()])

    async def set_status(request: Request) -> Response:
        reference_id, status = request.path_params["reference_id"], request.path_params["status"]
        if status not in WEBHOOK_STATUSES:
            return error(400, "UNKNOWN_STATUS", f"status must be one of {sorted(WEBHOOK_STATUSES)}")
        try:
            options = await json_body(request)
        except ValueError:
            return error(400, "INVALID_JSON", "body is not a JSON object")
        partner = request.query_params.get("partner")
        with state.lock:
            matches = [o for (p, r), o in state.orders.items() if r == reference_id and partner in (None, p)]
            if len(matches) == 1:
                matches[0]["status"] = status
        if not matches:
            return error(404, "NOT_FOUND", "no such order")
        if len(matches) > 1:
            return error(409, "AMBIGUOUS", "several partners hold this id: add ?partner=")
        order = matches[0]
        shipped = status == "shipped"
        payload = {
            "eventId": f"evt_{uuid.uuid4().hex}",
            "referenceId": reference_id,
            "orderId": order["orderId"],
            "status": status,
            "occurredAt": rfc3339(state.clock),
            "reason": options.get("reason", "sandbox rejection" if status == "rejected" else None),
            "carrier": options.get("carrier", "UPS" if shipped else None),
            "tracking": options.get("tracking", f"1Z{uuid.uuid4().hex[:16].upper()}" if shipped else None),
        }
        url = state.webhook_url_for(order["partner"]) if state.webhook_url_for else None
        result = await deliver(url, state.webhook_secret, payload, state.clock)
        with state.lock:
            order["events"].append(result)
        return JSONResponse(result)

    async def fail_next(request: Request) -> Response:
        return await queue_failures(request, state.lock, state.failures)

    app = Starlette(
        routes=[
            Route("/lifefile/v1/orders", lifefile_order, methods=["POST"]),
            Route("/dispensepro/api/orders", dispensepro_order, methods=["POST"]),
            Route("/lifefile/v1/orders/{reference_id}/cancel", lifefile_cancel, methods=["POST"]),
            Route("/dispensepro/api/orders/{reference_id}/cancel", dispensepro_cancel, methods=["POST"]),
            Route("/_sandbox/orders", list_orders, methods=["GET"]),
            Route("/_sandbox/orders/{reference_id}/status/{status}", set_status, methods=["POST"]),
            Route("/_sandbox/fail-next", fail_next, methods=["POST"]),
        ]
    )
    app.state.sandbox = state
    return app
