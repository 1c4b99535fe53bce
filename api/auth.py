"""Bearer tokens: a role, an optional subject (patient or clinic user) and an organization.

HS256 JWTs signed with `LEDGER_SECRET`, always with an expiry. A missing, malformed or expired
token is 401; a valid token without the route's role is 403. A token must also name an organization
this deployment serves and live no longer than its cap (24 h for people, `service_max` for services):
a token for an unknown organization never creates data, and a 10-year token is refused (401).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

import jwt

from domain.events import Actor

Role = Literal["patient", "clinic", "staff", "cs", "ops", "compliance", "service"]
ROLES: tuple[str, ...] = get_args(Role)
_ACTOR_KIND = {
    "patient": "patient",
    "clinic": "clinic_user",
    "staff": "staff",
    "cs": "cs",
    "ops": "ops",
    "compliance": "compliance",
    "service": "service",
}


PERSON_MAX_TTL = timedelta(hours=24)
SERVICE_ROLES = frozenset({"service"})


@dataclass(frozen=True)
class TokenPolicy:
    """What the deployment accepts: its organizations, and the longest lifetime per kind of caller."""

    organizations: frozenset[str]
    service_max: timedelta = timedelta(days=30)
    person_max: timedelta = PERSON_MAX_TTL

    def max_ttl(self, role: str) -> timedelta:
        return self.service_max if role in SERVICE_ROLES else self.person_max


@dataclass(frozen=True)
class Principal:
    role: str
    subject: str | None
    organization_id: str

    @property
    def actor(self) -> Actor:
        return Actor(kind=_ACTOR_KIND[self.role], id=self.subject or self.role)


class Unauthenticated(Exception):
    pass


class Forbidden(Exception):
    pass


def issue_token(
    secret: str,
    *,
    role: str,
    subject: str | None,
    organization_id: str,
    now: datetime,
    ttl: timedelta = timedelta(hours=12),
    max_ttl: timedelta | None = None,
) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    cap = max_ttl if max_ttl is not None else (PERSON_MAX_TTL if role not in SERVICE_ROLES else None)
    if cap is not None and ttl > cap:
        raise ValueError(f"a {role} token may live at most {cap}; asked for {ttl}")
    if role in ("patient", "clinic") and not subject:
        raise ValueError(f"a {role} token needs a subject")
    claims = {
        "role": role,
        "org": organization_id,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    if subject:
        claims["sub"] = subject
    return jwt.encode(claims, secret, algorithm="HS256")


def authenticate(secret: str, authorization: str | None, policy: TokenPolicy | None = None) -> Principal:
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthenticated("A bearer token is required.")
    try:
        claims = jwt.decode(
            authorization[7:].strip(),
            secret,
            algorithms=["HS256"],
            options={"require": ["exp", "role", "org"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("The token has expired.") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("The token is not valid.") from exc
    role, org, sub = claims.get("role"), claims.get("org"), claims.get("sub")
    if role not in ROLES or not isinstance(org, str) or (sub is not None and not isinstance(sub, str)):
        raise Unauthenticated("The token's claims are not valid.")
    if role in ("patient", "clinic") and not sub:
        raise Unauthenticated("The token names no subject.")
    if policy is not None:
        if org not in policy.organizations:
            raise Unauthenticated("The token's organization is not served here.")
        issued, expires = claims.get("iat"), claims.get("exp")
        if not isinstance(issued, int | float) or not isinstance(expires, int | float):
            raise Unauthenticated("The token's claims are not valid.")
        if timedelta(seconds=expires - issued) > policy.max_ttl(role):
            raise Unauthenticated(f"The token lives longer than a {role} token may ({policy.max_ttl(role)}).")
    return Principal(role=role, subject=sub, organization_id=org)


def require(principal: Principal, roles: tuple[str, ...]) -> None:
    if principal.role not in roles:
        raise Forbidden(f"The {principal.role} role may not do this.")
