"""Console sign-in links, session cookies and CSRF tokens.

- A sign-in link carries a short-lived signed token (role, subject, organization, a fresh link id).
  It is signed with a key derived from `LEDGER_SECRET` for this purpose only, so neither a link nor a
  session cookie is ever accepted as an API bearer token (nor the other way round).
- Exchanging a link starts a `console_session` aggregate keyed by the link id (so a link works once)
  and sets an HttpOnly, SameSite=Strict cookie holding the session id, signed likewise.
- Every form carries a CSRF token: an HMAC of the session id, checked on every unsafe request.
- Expiry is checked against the ledger's clock (`Deps.clock`), not the wall clock, so tests and
  demos that move the clock see sessions expire.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from api.auth import ROLES

COOKIE = "ledger_console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LINK_MINUTES = 15
SESSION_LIFETIME = timedelta(hours=8)
_LINK, _SESSION, _CSRF = b"console-link", b"console-session", b"console-csrf"


class BadLink(Exception):
    """The link is malformed, forged or expired; the message says which, in words."""


def _key(secret: str, purpose: bytes) -> bytes:
    return hmac.new(secret.encode(), purpose, hashlib.sha256).digest()


@dataclass(frozen=True)
class LinkClaims:
    link_id: str
    role: str
    subject: str | None
    organization_id: str
    expires_at: datetime


def issue_link_token(
    secret: str,
    *,
    role: str,
    subject: str | None,
    organization_id: str,
    now: datetime,
    minutes: int = LINK_MINUTES,
) -> str:
    if role not in ROLES or role == "service":
        raise ValueError(
            f"unknown console role {role!r}; one of {', '.join(r for r in ROLES if r != 'service')}"
        )
    if role in ("patient", "clinic") and not subject:
        raise ValueError(f"a {role} sign-in link needs --subject")
    if not 1 <= minutes <= 24 * 60:
        raise ValueError("--minutes must be between 1 and 1440")
    claims: dict[str, Any] = {
        "typ": "console-link",
        "jti": secrets.token_urlsafe(16),
        "role": role,
        "org": organization_id,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes)).timestamp()),
    }
    if subject:
        claims["sub"] = subject
    return jwt.encode(claims, _key(secret, _LINK), algorithm="HS256")


def read_link_token(secret: str, token: str, now: datetime) -> LinkClaims:
    claims = _decode(secret, _LINK, token, "console-link")
    if claims is None:
        raise BadLink("This sign-in link is not valid (it may have been cut short when copied).")
    expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    if now >= expires_at:
        raise BadLink("This sign-in link has expired.")
    role, sub, jti = claims.get("role"), claims.get("sub"), claims.get("jti")
    if role not in ROLES or not isinstance(jti, str) or (sub is not None and not isinstance(sub, str)):
        raise BadLink("This sign-in link is not valid.")
    return LinkClaims(jti, role, sub, claims["org"], expires_at)


def session_cookie(secret: str, session_id: str, organization_id: str, expires_at: datetime) -> str:
    claims = {"typ": "console-session", "sid": session_id, "org": organization_id}
    claims["exp"] = int(expires_at.timestamp())  # type: ignore[assignment]
    return jwt.encode(claims, _key(secret, _SESSION), algorithm="HS256")


def read_session_cookie(secret: str, value: str) -> tuple[str, str] | None:
    """(session id, organization id), or None for anything forged or malformed."""
    claims = _decode(secret, _SESSION, value, "console-session")
    if claims is None or not isinstance(claims.get("sid"), str):
        return None
    return claims["sid"], claims["org"]


def csrf_token(secret: str, session_id: str) -> str:
    return hmac.new(_key(secret, _CSRF), session_id.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: str, session_id: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(secret, session_id), presented or "")


def _decode(secret: str, purpose: bytes, token: str, typ: str) -> dict[str, Any] | None:
    try:
        # Expiry is checked by the caller against the ledger's clock.
        claims: dict[str, Any] = jwt.decode(
            token,
            _key(secret, purpose),
            algorithms=["HS256"],
            options={"require": ["exp", "org", "typ"], "verify_exp": False},
        )
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != typ or not isinstance(claims.get("org"), str):
        return None
    if not isinstance(claims.get("exp"), int):
        return None
    return claims
