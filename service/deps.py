"""What every command handler needs, assembled once by the bootstrap."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar
from uuid import UUID, uuid4

from adapters.clock import system_clock
from adapters.eventstore import ConcurrentWrite, LedgerStore, stable_id
from adapters.payments.port import PaymentGateway
from domain.errors import Conflict, InvalidCommand
from domain.invoices import STALE_ATTEMPT_AFTER
from domain.parties import Organization
from service.unit import Batch, Context, Unit, load

MAX_WRITE_RETRIES = 20
T = TypeVar("T")


@dataclass
class Deps:
    store: LedgerStore
    gateways: Mapping[str, PaymentGateway]
    clock: Callable[[], datetime] = system_clock  # the bootstrap hands in LEDGER_NOW's or a test's
    new_uuid: Callable[[], UUID] = uuid4
    after_commit: list[Callable[[int], None]] = field(default_factory=list)
    # A charge attempt (or a keyed request) with no outcome after this long is presumed
    # interrupted: a replay of its key or the payment reconciler re-drives it.
    pending_after: timedelta = STALE_ATTEMPT_AFTER
    dunning_retry_days: tuple[int, ...] = (1, 3, 5)  # LEDGER_DUNNING_RETRY_DAYS: retries after a decline

    def batch(self, ctx: Context) -> Batch:
        return Batch(ctx, self.clock(), self.new_uuid)

    def commit(self, batch: Batch, uow: Unit | None = None) -> int:
        """Append the batch; a unit of work handed in keeps the states it produced (or, when
        another writer got there first, forgets the streams it wrote so the retry reads them)."""
        try:
            position = batch.commit(self.store)
        except ConcurrentWrite:
            if uow is not None:
                uow.lost_race(batch)
            raise
        if uow is not None:
            uow.committed(batch)
        for hook in self.after_commit:
            hook(position)
        return position

    def new_id(self) -> str:
        return str(self.new_uuid())

    def order_number(self, order_id: str) -> str:
        # Derived from the id (40 bits, base32) so numbering needs no shared counter to contend on.
        raw = UUID(order_id).bytes[:5]
        return "R-" + base64.b32encode(raw).decode().rstrip("=")

    def gateway(self, name: str) -> PaymentGateway:
        try:
            return self.gateways[name]
        except KeyError:
            raise InvalidCommand(f"Payment gateway {name!r} is not configured.", field="gateway") from None

    def organization(self, organization_id: str, uow: Unit | None = None) -> Organization:
        aggregate_id = organization_aggregate_id(organization_id)
        return (uow.get if uow else partial(load, self.store))(Organization, aggregate_id).state

    def unit(self, ctx: Context | None = None) -> Unit:
        """A unit of work: each stream read at most once, through the process's aggregate cache."""
        return Unit(self.store, ctx)


def organization_aggregate_id(organization_id: str) -> UUID:
    return stable_id("organization", organization_id)


def retry_on_conflict(attempt: Callable[[], T]) -> T:
    """Re-run a read-decide-append cycle when another writer got there first."""
    for _ in range(MAX_WRITE_RETRIES):
        try:
            return attempt()
        except ConcurrentWrite:
            continue
    raise Conflict(
        "Too many concurrent changes to the same records; try again.", reasons=("CONCURRENT_UPDATE",)
    )
