"""Console sign-in URLs: for `ledger console-link` and for the `ledger serve` banner."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from api.console.session import LINK_MINUTES, issue_link_token

BANNER_ROLES = ("cs", "ops", "staff", "compliance")


def sign_in_url(
    secret: str,
    base_url: str,
    *,
    role: str,
    subject: str | None,
    organization_id: str,
    minutes: int = LINK_MINUTES,
) -> str:
    token = issue_link_token(
        secret,
        role=role,
        subject=subject,
        organization_id=organization_id,
        now=datetime.now(UTC),
        minutes=minutes,
    )
    return f"{base_url.rstrip('/')}/console/sign-in?link={quote(token, safe='')}"


def console_banner(secret: str, base_url: str, organization_id: str) -> str:
    lines = [
        f"Console sign-in links (one use each, {LINK_MINUTES} minutes; more with `ledger console-link`):"
    ]
    for role in BANNER_ROLES:
        url = sign_in_url(secret, base_url, role=role, subject=None, organization_id=organization_id)
        lines.append(f"  {role + ':':12} {url}")
    return "\n".join(lines)
