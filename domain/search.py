"""What a CS search box was given: an order number, an e-mail or a name (pure; no I/O).

A patient on the phone reads out an order number (`R-…`, of the original or of a refill), spells
their e-mail, or says their name. `parse_query` tells which, so the search asks the right index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from domain.errors import InvalidCommand

QueryKind = Literal["number", "email", "name"]
_NUMBER = re.compile(r"^R-[A-Z2-7]{4,16}$")
MAX_QUERY = 200


@dataclass(frozen=True)
class OrderQuery:
    kind: QueryKind
    text: str  # normalised: an upper-case number, a trimmed e-mail, or the name as typed
    words: tuple[str, ...] = ()  # a name's words, each matched on its own


def as_order_number(text: str) -> str | None:
    """The order number `text` names (any case, blanks around it ignored), or None."""
    number = text.strip().upper()
    return number if _NUMBER.match(number) else None


def parse_query(raw: str) -> OrderQuery:
    text = " ".join(raw.split())
    if not text:
        raise InvalidCommand(field="q", reasons=("QUERY_EMPTY",))
    if len(text) > MAX_QUERY:
        raise InvalidCommand(field="q", reasons=("QUERY_TOO_LONG",), facts={"limit": MAX_QUERY})
    number = as_order_number(text)
    if number is not None:
        return OrderQuery("number", number)
    if "@" in text:
        return OrderQuery("email", text)
    return OrderQuery("name", text, tuple(text.split(" ")))
