"""How deeply a JSON document nests, measured on the raw bytes before any parser recurses into it.

Python's `json` recurses once per level: a few kilobytes of `[[[[…` exhaust the interpreter's stack
(RecursionError, a 500). Counting brackets outside strings is linear and never recurses, so a
too-deep body is refused (or kept as received, for a signed webhook) before it is parsed.
"""

from __future__ import annotations

MAX_JSON_DEPTH = 400
_OPEN, _CLOSE, _QUOTE, _ESCAPE = frozenset(b"[{"), frozenset(b"]}"), ord('"'), ord("\\")


def nesting_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `raw` opens more than `limit` arrays/objects inside one another."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # cannot nest deeper than it has brackets: the common case costs two scans in C
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _ESCAPE:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSE:
            depth -= 1
    return False
