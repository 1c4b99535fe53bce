"""`ledger verify`: walk the store beside the sealed chain and report the first break.

The walk recomputes every link from the genesis hash (it trusts no stored hash) and compares it
with the chain and the signed checkpoints, position by position, so the first break found is the
earliest one. What the chain says was at a position, against what the store now holds there:
- the chain has a position the store lacks: `deleted` (or `truncated` when nothing follows);
- the store has a position inside the sealed range the chain never saw: `inserted`;
- same position, different event id: `reordered` if the chain knows that event elsewhere, else `inserted`;
- same position and event id, different hash: `edited`;
- a checkpoint whose signature fails, or whose hash disagrees with the recomputed chain: `checkpoint`.
Events after the sealed head are reported as unsealed, not as a break.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from adapters.chain import GENESIS, Verifier, checkpoint_message, link
from adapters.eventstore import LedgerStore
from adapters.logreader import RawEvent, iter_raw
from projections.db import ViewDatabase
from projections.sealer import Checkpoint, all_checkpoints, iter_chain


@dataclass(frozen=True)
class Break:
    kind: str
    position: int
    detail: str


@dataclass(frozen=True)
class Report:
    checked: int
    unsealed: int
    checkpoints: int
    head_hash: str
    first_break: Break | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def _chain_knows(db: ViewDatabase, event_id: str) -> int | None:
    with db.transaction() as cursor:
        cursor.execute("SELECT position FROM event_chain WHERE event_id = %s", (event_id,))
        row = cursor.fetchone()
    return int(row[0]) if row else None


def _bad_checkpoint(checkpoints: list[Checkpoint], verifier: Verifier) -> Break | None:
    for cp in checkpoints:
        if cp.key_id != verifier.key_id or not verifier.verify(
            checkpoint_message(cp.position, cp.hash), cp.signature
        ):
            return Break("checkpoint", cp.position, "checkpoint signature does not verify with this key")
    return None


def verify_store(
    store: LedgerStore, db: ViewDatabase, verifier: Verifier, progress: Callable[[int], None] | None = None
) -> Report:
    checkpoints = all_checkpoints(db)
    signed = {cp.position: cp for cp in checkpoints}
    events, chain = iter_raw(store), iter_chain(db)
    e, c = next(events, None), next(chain, None)
    prev, checked, unsealed, last = GENESIS, 0, 0, 0

    def report(first: Break | None) -> Report:
        return Report(checked, unsealed, len(checkpoints), prev, first)

    bad = _bad_checkpoint(checkpoints, verifier)
    while e is not None or c is not None:
        if c is not None and (e is None or c[0] < e.id):
            kind = "truncated" if e is None else "deleted"
            return report(
                Break(kind, c[0], f"the chain sealed an event at {c[0]} that the store no longer has")
            )
        assert e is not None
        if c is None or e.id < c[0]:
            if c is None and e.id > last:
                unsealed += 1
                e = next(events, None)
                continue
            return report(
                Break("inserted", e.id, "an event the chain never sealed sits inside the sealed range")
            )
        event = RawEvent.of(e)
        recomputed = c[2] if event.links_to(prev, c[2]) else link(prev, event.canonical())
        if event.event_id != c[1]:
            elsewhere = _chain_knows(db, event.event_id)
            if elsewhere is not None:
                return report(Break("reordered", e.id, f"the event sealed at {elsewhere} now sits here"))
            return report(Break("inserted", e.id, "an event the chain never sealed took this position"))
        if recomputed != c[2] or prev != c[3]:
            return report(Break("edited", e.id, "the stored event no longer hashes to its sealed link"))
        if e.id in signed and signed[e.id].hash != recomputed:
            return report(
                Break("checkpoint", e.id, "the recomputed chain disagrees with a signed checkpoint")
            )
        if bad is not None and bad.position <= e.id:
            return report(bad)
        prev, last, checked = recomputed, e.id, checked + 1
        if progress is not None and checked % 10_000 == 0:
            progress(checked)
        e, c = next(events, None), next(chain, None)
    if bad is not None:
        return report(bad)
    beyond = [cp.position for cp in checkpoints if cp.position > last]
    if beyond:
        return report(
            Break(
                "truncated",
                last + 1,
                f"a signed checkpoint vouches for position {beyond[0]}, but the log ends at {last}",
            )
        )
    return report(None)
