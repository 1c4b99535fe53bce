"""Request body limits, checked before a body is parsed (or a webhook's signature computed over it).

1 MB for the API, 256 KB for webhooks: a declared `Content-Length` over the limit is answered 413 at
once without reading; a body sent without one (chunked) is counted while it streams and refused the
moment it passes the limit, so a 50 MB upload is never held in memory.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_BODY_LIMIT = 1024 * 1024
WEBHOOK_BODY_LIMIT = 256 * 1024


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than {limit} bytes.")
        self.limit = limit


def body_limit_for(path: str) -> int:
    return WEBHOOK_BODY_LIMIT if path.startswith("/webhooks/") else API_BODY_LIMIT


class BodyLimit:
    """ASGI middleware: 413 for a body over its route's limit, declared or streamed."""

    def __init__(self, app: ASGIApp, too_large: Any) -> None:
        self.app = app
        self.too_large = too_large  # (limit) -> ASGI response app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit_for(scope.get("path", ""))
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False  # the server refuses a malformed length itself
            if too_big:
                await self.too_large(limit)(scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)
