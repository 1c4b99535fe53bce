"""Domain errors: typed refusals, each with a stable code that the API maps to an HTTP status.

The domain says *what* refused a command, never how to say it to a person:
- `rule`: which rule refused it, a stable key (the first of `reasons` unless named);
- `reasons`: the stable codes a problem+json answer carries;
- `field`: the request field at fault (bad input, or a conflict such as a taken SKU);
- `facts`: the values the words need (a status, a limit, the cycle, the states that are not states).
`api/error_words.py` says them in words. Code above the domain (the service layer) may still hand in
its own `detail` words, which the API then shows as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

FactValue = str | int | tuple[str, ...]


class DomainError(Exception):
    code: str = "DOMAIN_RULE"

    def __init__(
        self,
        detail: str | None = None,
        *,
        rule: str | None = None,
        reasons: tuple[str, ...] = (),
        facts: Mapping[str, FactValue] | None = None,
        field: str | None = None,
    ) -> None:
        self.rule = rule or (reasons[0] if reasons else self.code)
        self.reasons = reasons
        self.facts: dict[str, FactValue] = dict(facts or {})
        self.detail = detail
        self.field = field
        super().__init__(detail if detail is not None else self.technical())

    def technical(self) -> str:
        """The rule and its facts, for logs and dead letters (not words for people)."""
        facts = ", ".join(f"{k}={v}" for k, v in self.facts.items())
        return f"{self.rule} ({facts})" if facts else self.rule


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
