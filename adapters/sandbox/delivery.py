"""Signed webhook delivery and small helpers shared by the vendor sandboxes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse

from adapters.webhook_signature import HEADER, sign

Clock = Callable[[], float]


def rfc3339(clock: Clock) -> str:
    return datetime.fromtimestamp(clock(), UTC).isoformat().replace("+00:00", "Z")


async def deliver(
    url: str | None, secret: str, payload: dict[str, Any], clock: Clock = time.time
) -> dict[str, Any]:
    """POST `payload` signed to `url`; report what was sent and the HTTP status it got.

    A failed delivery is reported, not raised: the caller (a test or the demo) decides what it
    means, just as a real vendor would log it and retry later.
    """
    body = json.dumps(payload, separators=(",", ":")).encode()
    result: dict[str, Any] = {"payload": payload, "url": url, "status": None, "error": None}
    if url is None:
        result["error"] = "no webhook url configured"
        return result
    headers = {"Content-Type": "application/json", HEADER: sign(secret, body, int(clock()))}
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.post(url, content=body, headers=headers)
        result["status"] = response.status_code
    except httpx.HTTPError as exc:
        result["error"] = type(exc).__name__
    return result


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, `{}` when empty; ValueError when it is not an object."""
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def queue_failures(
    request: Request, lock: threading.Lock, failures: list[dict[str, Any]]
) -> JSONResponse:
    """`POST /_sandbox/fail-next {"status", "code", "message", "times"}`: the next submissions
    answer with that status instead of being recorded (5xx to test retries, 4xx rejections)."""
    try:
        options = await json_body(request)
        status = int(options.get("status", 503))
        times = int(options.get("times", 1))
    except (ValueError, TypeError):
        return error(400, "INVALID_REQUEST", "status and times must be integers")
    if not 400 <= status <= 599:
        return error(400, "INVALID_REQUEST", "status must be an HTTP error status")
    failure = {
        "status": status,
        "code": str(options.get("code", f"SANDBOX_{status}")),
        "message": str(options.get("message", "sandbox-injected failure")),
    }
    with lock:
        failures.extend([failure] * times)
    return JSONResponse({"queued": times, **failure})
