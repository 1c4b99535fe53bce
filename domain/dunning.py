"""Dunning: what follows a declined subscription charge.

A soft decline is retried on a schedule of days after the cycle's first decline (default 1, 3,
5; the settings hand the schedule in), anchored on that first decline so retries do not drift
with the worker's wake-up delay. A hard decline — the issuer says the card is lost, stolen or
does not exist — is never retried, as Stripe Billing does not retry one. When no retry is left
the subscription is past due, which is a typed condition the escalation policy reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.subscriptions import (
    Subscription,
    SubscriptionCyclePaid,
    SubscriptionFact,
    SubscriptionPastDue,
    SubscriptionPaymentDeclined,
)

DEFAULT_RETRY_DAYS: tuple[int, ...] = (1, 3, 5)

# Issuer answers that no amount of waiting changes (Stripe does not retry these either).
HARD_DECLINES = frozenset(
    {
        "lost_card",
        "stolen_card",
        "pickup_card",
        "incorrect_number",
        "invalid_account",
        "resource_missing",  # no such card (the payment method is gone)
        "revocation_of_authorization",
        "revocation_of_all_authorizations",
    }
)


def is_hard_decline(decline_code: str | None) -> bool:
    return decline_code in HARD_DECLINES


@dataclass(frozen=True)
class Retry:
    retry: int  # 1-based
    due_at: datetime


def after_decline(
    sub: Subscription,
    *,
    cycle_number: int,
    invoice_id: str,
    attempt: int,
    decline_code: str | None,
    message: str,
    retry: int,
    now: datetime,
    retry_days: Sequence[int],
) -> tuple[list[SubscriptionFact], Retry | None]:
    """Facts for one declined charge, and the retry to schedule (None: dunning is exhausted)."""
    hard = is_hard_decline(decline_code)
    first = _first_decline_at(sub, invoice_id, now)
    upcoming: Retry | None = None
    if not hard and retry < len(retry_days):
        upcoming = Retry(retry + 1, first + timedelta(days=retry_days[retry]))
    facts: list[SubscriptionFact] = [
        SubscriptionPaymentDeclined(
            cycle_number=cycle_number,
            invoice_id=invoice_id,
            attempt=attempt,
            retry=retry,
            decline_code=decline_code,
            message=message,
            hard=hard,
            declined_at=now,
            next_retry_at=upcoming.due_at if upcoming else None,
        )
    ]
    if upcoming is None:
        facts.append(SubscriptionPastDue(cycle_number=cycle_number, invoice_id=invoice_id))
    return facts, upcoming


def _first_decline_at(sub: Subscription, invoice_id: str, now: datetime) -> datetime:
    """The anchor of the retry schedule: when this invoice first declined (its retry 0)."""
    dunning = sub.dunning
    if dunning is None or dunning.invoice_id != invoice_id or dunning.opened_at is None:
        return now
    return dunning.opened_at


def after_payment(sub: Subscription, *, cycle_number: int, invoice_id: str) -> list[SubscriptionFact]:
    """The cycle's invoice is paid: close its dunning (if any) and say so once."""
    if sub.dunning is not None and sub.dunning.invoice_id == invoice_id:
        return [SubscriptionCyclePaid(cycle_number=cycle_number, invoice_id=invoice_id)]
    return []


@dataclass(frozen=True)
class SubscriptionPastDueCondition:
    """A typed condition for the escalation policy: the subscription's dunning is exhausted."""

    subscription_id: str
    patient_id: str
    cycle_number: int
    invoice_id: str
    attempts: int
    last_decline_code: str | None
    last_message: str


def past_due_condition(sub: Subscription) -> SubscriptionPastDueCondition | None:
    dunning = sub.dunning
    if sub.state != "PAST_DUE" or dunning is None:
        return None
    last = dunning.attempts[-1]
    return SubscriptionPastDueCondition(
        subscription_id=sub.id,
        patient_id=sub.started.patient_id,
        cycle_number=dunning.cycle_number,
        invoice_id=dunning.invoice_id,
        attempts=len(dunning.attempts),
        last_decline_code=last.decline_code,
        last_message=last.message,
    )
