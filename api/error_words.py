"""The words of a refusal: a domain error's rule and facts said as the problem's `detail`.

`domain/` raises typed errors (`domain.errors`: a rule, its reason codes, a field and facts); this
module is where they become a sentence, for problem+json answers, console pages and the CLI alike.
Words handed in by the service layer (`DomainError.detail`) are shown as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from domain.errors import DomainError, FactValue

Facts = Mapping[str, FactValue]


def sig_words(missing: Sequence[str], as_directed: bool) -> str:
    """Which parts of a SIG are missing ("dose unit", not "dose_unit"): a cart line's problem, and a
    rejected line's fixed SIG refused."""
    words = ", ".join(part.replace("_", " ") for part in missing)
    note = ' ("as directed" is not a direction)' if as_directed else ""
    return f"SIG is missing: {words}{note}."


RULE_WORDS: Mapping[str, str | Callable[[Facts], str]] = {
    # the catalog
    "SKU_TAKEN": (
        "Another product of this organization already has the SKU {sku} "
        "(SKUs are compared ignoring case and spacing)."
    ),
    # carts and checkout (domain/clinic)
    "CART_CHECKED_OUT": "The cart is already checked out.",
    "CART_LINE_NOT_FOUND": "No such cart line.",
    "QUANTITY_BELOW_ONE": "Quantity must be at least 1.",
    "CART_CURRENCIES_MIXED": "All lines of a cart must be priced in one currency.",
    "CART_NOT_VALID": "The cart has {problems} problem(s); fix them before checkout.",
    "SIG_INCOMPLETE": lambda f: sig_words(_parts(f.get("missing")), bool(f.get("as_directed"))),
    # the clinic directory
    "NOT_US_STATES": "Not US state codes: {codes}.",
    "NPI_INVALID": "The NPI is not a valid 10-digit National Provider Identifier.",
    "DEA_NUMBER_INVALID": "The DEA number is not valid (two letters, seven digits).",
    # invoices and payments
    "INVOICE_ALREADY_PAID": "The invoice is already paid.",
    "INVOICE_NOT_OPEN": lambda f: f"The invoice is {str(f['status']).lower()}.",
    "PAYMENT_IN_PROGRESS": "A payment for this invoice is already in progress.",
    # idempotency keys
    "IDEMPOTENCY_KEY_REUSED_BODY": "This Idempotency-Key was used with a different request body.",
    "IDEMPOTENCY_KEY_REUSED": "This Idempotency-Key was used with a different request.",
    "REQUEST_IN_PROGRESS": "A request with this Idempotency-Key is still in progress; retry shortly.",
    # subscriptions
    "SUBSCRIPTION_PAUSED": "The subscription is already paused.",
    "SUBSCRIPTION_NOT_PAUSED": "The subscription is not paused.",
    "CYCLE_ALREADY_SKIPPED": "Cycle {cycle} is already to be skipped.",
    "SUBSCRIPTION_CANCELED": "The subscription is canceled.",
    # search
    "QUERY_EMPTY": "Type an order number, an e-mail or a name.",
    "QUERY_TOO_LONG": "The search is longer than {limit} characters.",
    # compliance exports
    "EXPORT_SCOPE_INVALID": "Name exactly one scope: patient_id, order_id, or a from/to period.",
    "EXPORT_PERIOD_REVERSED": "The period's `from` must be before its `to`.",
    "PURPOSE_REQUIRED": "Say why: a purpose is required.",
    "EXPORT_FINISHED": "The export is already {status}.",
    # console sessions
    "SESSION_ALREADY_ENDED": "The session has already ended.",
    "SESSION_ENDED": "The session has ended.",
    "REASON_REQUIRED": "Say why: a reason is required.",
    # durable timers
    "TIMER_CLOSED": lambda f: f"The timer is already {str(f['state']).lower()}.",
    "TIMER_NOT_DUE": "The timer is not due yet.",
}


def _parts(value: FactValue | None) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else ()


def detail_of(exc: DomainError) -> str:
    """What the refusal says to a person: the service's own words, else its rule's."""
    if exc.detail is not None:
        return exc.detail
    words = RULE_WORDS.get(exc.rule)
    if words is None:  # a rule without words yet: its code and facts are still exact
        return exc.technical()
    return words(exc.facts) if callable(words) else words.format(**exc.facts)
