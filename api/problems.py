"""RFC 9457 problem responses, and the one table mapping errors to HTTP statuses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse

from adapters.payments.port import GatewayUnavailable
from api.auth import Forbidden, Unauthenticated
from api.error_words import detail_of
from api.explain_words import ELIGIBILITY_WORDS
from api.limits import BodyTooLarge
from domain.errors import Conflict, DomainError, InvalidCommand, NotEligible, NotFound

PROBLEM = "application/problem+json"


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    reasons: list[str] = []
    errors: list[FieldError] = []


class ApiError(Exception):
    """An error raised by a route itself (bad header, declined payment, …)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        reasons: tuple[str, ...] = (),
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.reasons = status, title, detail, reasons
        self.extra = extra or {}


_STATUS: list[tuple[type[Exception], int, str]] = [
    (Unauthenticated, 401, "Unauthorized"),
    (Forbidden, 403, "Forbidden"),
    (NotFound, 404, "Not Found"),
    (NotEligible, 422, "Not eligible"),
    (InvalidCommand, 422, "Invalid request"),
    (Conflict, 409, "Conflict"),
    (GatewayUnavailable, 502, "Payment gateway unavailable"),
]


# Handled by Starlette's exception middleware (not the server-error one, which re-raises).
KNOWN_ERRORS: tuple[type[Exception], ...] = (
    ApiError,
    ValidationError,
    DomainError,
    Unauthenticated,
    Forbidden,
    GatewayUnavailable,
    BodyTooLarge,
)


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    reasons: tuple[str, ...] | list[str] = (),
    errors: list[FieldError] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body = Problem(
        type=f"https://refill-ledger.dev/problems/{title.lower().replace(' ', '-')}",
        title=title,
        status=status,
        detail=detail,
        reasons=list(reasons),
        errors=errors or [],
    ).model_dump()
    body.update(extra or {})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def too_large(limit: int) -> JSONResponse:
    return problem(
        413,
        "Payload Too Large",
        f"The request body is larger than {limit} bytes.",
        reasons=("BODY_TOO_LARGE",),
    )


def from_exception(exc: Exception) -> JSONResponse | None:
    """Translate a known exception; None means unknown (the app logs it and answers 500)."""
    if isinstance(exc, BodyTooLarge):
        return too_large(exc.limit)
    if isinstance(exc, ApiError):
        return problem(exc.status, exc.title, exc.detail, reasons=exc.reasons, extra=exc.extra)
    if isinstance(exc, ValidationError):
        return validation_problem(exc)
    for kind, status, title in _STATUS:
        if isinstance(exc, kind):
            reasons = exc.reasons if isinstance(exc, DomainError) else ()
            detail = detail_of(exc) if isinstance(exc, DomainError) else str(exc)
            errors = (
                [FieldError(field=exc.field, message=detail)]
                if isinstance(exc, DomainError) and exc.field
                else None
            )
            if isinstance(exc, NotEligible):  # each eligibility reason, in words
                detail = " ".join(
                    [detail, *(ELIGIBILITY_WORDS[r] for r in reasons if r in ELIGIBILITY_WORDS)]
                )
            return problem(status, title, detail, reasons=reasons, errors=errors)
    return None


def validation_problem(exc: ValidationError, where: str = "body") -> JSONResponse:
    errors = [
        FieldError(field=".".join(str(p) for p in e["loc"]) or where, message=e["msg"]) for e in exc.errors()
    ]
    names = ", ".join(sorted({e.field for e in errors}))
    return problem(
        422, "Invalid request", f"Invalid {where}: {names}.", reasons=("VALIDATION_FAILED",), errors=errors
    )
