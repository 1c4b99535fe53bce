"""Domain errors: each carries a stable code that the API maps to an HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    code: str = "DOMAIN_RULE"

    def __init__(self, detail: str, *, reasons: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.reasons = reasons


class NotFound(DomainError):
    code = "NOT_FOUND"


class NotEligible(DomainError):
    """A rule refused the command; `reasons` names every failed rule by its stable code."""

    code = "NOT_ELIGIBLE"


class Conflict(DomainError):
    """The command contradicts the aggregate's current state (already paid, in progress, …)."""

    code = "CONFLICT"


class InvalidCommand(DomainError):
    """The command's own data breaks a rule (bad state code, negative price, …)."""

    code = "INVALID"

    def __init__(self, detail: str, *, field: str | None = None, reasons: tuple[str, ...] = ()) -> None:
        super().__init__(detail, reasons=reasons)
        self.field = field
