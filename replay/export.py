"""Compliance exports: a patient's, an order's or a period's events as JSON Lines, CSV and a signed manifest.

Streamed in constant memory: the log is read a page at a time in position order beside the sealed
chain, every link is recomputed on the way (an export of tampered history fails instead of
certifying it), lines are written in chunks and the files hashed as they are written. The manifest
(counts, time range, positions, first and last chain hash, the newest signed checkpoint, the files'
sha256) is signed with the ledger's Ed25519 key; `verify_export` checks all of it offline.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any, BinaryIO
from uuid import UUID

from eventsourcing.persistence import Notification

from adapters.chain import Signer, canonical_event_fast, canonical_json, link
from adapters.eventstore import LedgerStore
from adapters.logreader import RawEvent, aggregate_type_of, iter_raw
from projections.db import ViewDatabase
from projections.sealer import checkpoint_head, iter_chain, latest_checkpoint, seal

FORMAT = "refill-ledger-export/1"
CSV_COLUMNS = (
    "position",
    "id",
    "type",
    "version",
    "aggregate_type",
    "aggregate_id",
    "organization_id",
    "occurred_at",
    "actor",
    "correlation_id",
    "causation_id",
    "data",
    "schema_version",
    "hash",
    "prev_hash",
)
PATIENT_TOPICS = (
    "OrderPlaced",
    "InvoiceIssued",
    "RefillRequested",
    "SubscriptionStarted",
    "OrderHistoryRead",
    "ComplianceExportRequested",
)
Progress = Callable[[int], None]


class ExportFailed(Exception):
    """The export could not be made faithfully (the store disagrees with its seal, or no such scope)."""


@dataclass(frozen=True)
class Scope:
    organization_id: str
    patient_id: str | None = None
    order_id: str | None = None
    period_from: datetime | None = None
    period_to: datetime | None = None

    def describe(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()}

    def in_period(self, occurred_at: str) -> bool:
        when = datetime.fromisoformat(occurred_at)
        return (self.period_from is None or when >= self.period_from) and (
            self.period_to is None or when < self.period_to
        )


def _patient_aggregates(store: LedgerStore, scope: Scope, stop: int) -> set[str]:
    """The patient, their orders, invoices, refills and subscriptions, and reads/exports about them."""
    pid = scope.patient_id
    wanted, orders, order_invoices = {str(pid)}, set[str](), set[str]()
    for n in iter_raw(store, stop=stop, topics=PATIENT_TOPICS):
        e = RawEvent.of(n)
        data = e.body.get("data", {})
        if e.organization_id != scope.organization_id:
            continue
        if e.type == "OrderPlaced" and data.get("patient_id") == pid:
            orders.add(e.aggregate_id)
            order_invoices.add(str(data.get("invoice_id")))
        elif (
            (
                e.type in ("InvoiceIssued", "RefillRequested", "SubscriptionStarted")
                and data.get("patient_id") == pid
            )
            or (e.type == "OrderHistoryRead" and data.get("order_id") in orders)
            or (
                e.type == "ComplianceExportRequested"
                and (data.get("patient_id") == pid or data.get("order_id") in orders)
            )
        ):
            wanted.add(e.aggregate_id)
    # An invoice issued without a patient (a clinic's) belongs to this patient only if it bills
    # nothing but this patient's orders; one that also bills another patient's orders stays out.
    for invoice_id in order_invoices - wanted:
        first = store.stream(UUID(invoice_id), up_to_version=1)
        if first and set(first[0].fact.model_dump().get("order_ids", ())) <= orders:
            wanted.add(invoice_id)
    return wanted | orders


def _order_aggregates(store: LedgerStore, scope: Scope, stop: int) -> set[str]:
    oid = scope.order_id
    wanted: set[str] = set()
    for n in iter_raw(
        store,
        stop=stop,
        topics=("OrderPlaced", "RefillRequested", "OrderHistoryRead", "ComplianceExportRequested"),
    ):
        e = RawEvent.of(n)
        data = e.body.get("data", {})
        if e.organization_id != scope.organization_id:
            continue
        if e.type == "OrderPlaced" and e.aggregate_id == oid:
            wanted |= {e.aggregate_id, str(data.get("invoice_id"))}
        elif (e.type == "RefillRequested" and data.get("refill_order_id") == oid) or (
            e.type in ("OrderHistoryRead", "ComplianceExportRequested") and data.get("order_id") == oid
        ):
            wanted.add(e.aggregate_id)
    if oid not in wanted:
        raise ExportFailed("No such order in this organization.")
    return wanted


class _Sink:
    """A file written in chunks and hashed as it is written."""

    def __init__(self, path: Path) -> None:
        self.path, self.sha, self.size, self.lines = path, hashlib.sha256(), 0, 0
        self._file: BinaryIO = path.open("wb")

    def write(self, chunk: str, lines: int) -> None:
        data = chunk.encode()
        self._file.write(data)
        self.sha.update(data)
        self.size += len(data)
        self.lines += lines

    def close(self) -> dict[str, Any]:
        self._file.close()
        return {"sha256": self.sha.hexdigest(), "bytes": self.size, "lines": self.lines}


_dump = json.JSONEncoder(separators=(",", ":")).encode


def _j(value: object) -> str:
    return encode_basestring_ascii(value) if isinstance(value, str) else _dump(value)


def _csv(value: object) -> str:
    text = "" if value is None else str(value)
    if '"' in text or "," in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _lines(event: RawEvent, chain_hash: str, prev_hash: str) -> tuple[str, str, str]:
    """The JSON Lines record and the CSV row, composed directly (a million of them must be cheap)."""
    b = event.body
    actor = b.get("actor") or {}
    data = _dump(b.get("data"))
    event_id, org, when = b.get("event_id"), b.get("organization_id"), b.get("occurred_at")
    corr, cause, kind = b.get("correlation_id"), b.get("causation_id"), aggregate_type_of(event.type)
    record = (
        f'{{"position":{event.position},"id":{_j(event_id)},"type":{_j(event.type)},'
        f'"version":{event.version},"aggregate_type":{_j(kind)},"aggregate_id":"{event.aggregate_id}",'
        f'"organization_id":{_j(org)},"occurred_at":{_j(when)},"actor":{_dump(actor)},'
        f'"correlation_id":{_j(corr)},"causation_id":{_j(cause)},"data":{data},'
        f'"schema_version":{_j(b.get("v"))},"hash":"{chain_hash}","prev_hash":"{prev_hash}"}}\n'
    )
    row = (
        ",".join(
            [
                str(event.position),
                _csv(event_id),
                _csv(event.type),
                str(event.version),
                _csv(kind),
                event.aggregate_id,
                _csv(org),
                _csv(when),
                _csv(f"{actor.get('kind')}:{actor.get('id')}"),
                _csv(corr),
                _csv(cause),
                _csv(data),
                _csv(b.get("v")),
                chain_hash,
                prev_hash,
            ]
        )
        + "\n"
    )
    return record, row, str(when)


def _sealed_events(
    store: LedgerStore, db: ViewDatabase, stop: int
) -> Iterator[tuple[Notification, str, str]]:
    """Every event up to `stop` with its link, recomputed and checked against the seal."""
    chain = iter_chain(db, stop=stop)
    prev = None
    for n in iter_raw(store, stop=stop, page=10_000):
        c = next(chain, None)
        if c is None or c[0] != n.id:
            raise ExportFailed(f"The store and its seal disagree at position {n.id}; run `ledger verify`.")
        fast = canonical_event_fast(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
        if (prev is not None and c[3] != prev) or (
            link(c[3], fast) != c[2] and not RawEvent.of(n).links_to(c[3], c[2])
        ):
            raise ExportFailed(
                f"The event at position {n.id} no longer matches its seal; run `ledger verify`."
            )
        prev = c[2]
        yield n, c[2], c[3]
    if next(chain, None) is not None:
        raise ExportFailed("The seal covers events the store no longer has; run `ledger verify`.")


def run_export(
    store: LedgerStore,
    db: ViewDatabase,
    signer: Signer,
    scope: Scope,
    out_dir: Path,
    *,
    export_id: str,
    purpose: str,
    requested_by: str,
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write events.jsonl, events.csv and manifest.json into out_dir; return the manifest."""
    seal(store, db, signer)
    checkpoint = checkpoint_head(db, signer) or latest_checkpoint(db)
    stop = checkpoint.position if checkpoint else 0
    if on_total is not None:
        on_total(stop)
    wanted: set[str] | None = None
    if scope.patient_id is not None:
        wanted = _patient_aggregates(store, scope, stop)
    elif scope.order_id is not None:
        wanted = _order_aggregates(store, scope, stop)
    out_dir.mkdir(parents=True, exist_ok=True)
    jsonl, csvf = _Sink(out_dir / "events.jsonl"), _Sink(out_dir / "events.csv")
    csvf.write(",".join(CSV_COLUMNS) + "\n", 0)
    records: list[str] = []
    rows: list[str] = []
    count = scanned = 0
    by_type: Counter[str] = Counter()
    first: dict[str, Any] | None = None
    last: dict[str, Any] | None = None
    earliest: str | None = None
    latest: str | None = None
    contiguous, last_hash = True, None
    for n, chain_hash, prev_hash in _sealed_events(store, db, stop):
        scanned += 1
        if progress is not None and scanned % 5000 == 0:
            progress(5000)
        if wanted is not None and str(n.originator_id) not in wanted:
            continue
        event = RawEvent.of(n)
        if event.organization_id != scope.organization_id:
            continue
        if wanted is None and not scope.in_period(str(event.body.get("occurred_at"))):
            continue
        record, row, when = _lines(event, chain_hash, prev_hash)
        contiguous = contiguous and (last_hash is None or prev_hash == last_hash)
        last_hash = chain_hash
        records.append(record)
        rows.append(row)
        by_type[event.type] += 1
        count += 1
        earliest = when if earliest is None or when < earliest else earliest
        latest = when if latest is None or when > latest else latest
        first = first or {"position": event.position, "prev_hash": prev_hash}
        last = {"position": event.position, "hash": chain_hash}
        if len(records) >= 2000:
            jsonl.write("".join(records), len(records))
            csvf.write("".join(rows), len(rows))
            records.clear()
            rows.clear()
    jsonl.write("".join(records), len(records))
    csvf.write("".join(rows), len(rows))
    if progress is not None:
        progress(scanned % 5000)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "export_id": export_id,
        "organization_id": scope.organization_id,
        "scope": scope.describe(),
        "purpose": purpose,
        "requested_by": requested_by,
        "created_at": datetime.now(UTC).isoformat(),
        "counts": {"events": count, "by_type": dict(sorted(by_type.items())), "scanned": scanned},
        "time_range": {"first_occurred_at": earliest, "last_occurred_at": latest},
        "positions": {
            "first": first["position"] if first else None,
            "last": last["position"] if last else None,
            "as_of": stop,
        },
        "chain": {
            "first_prev_hash": first["prev_hash"] if first else None,
            "last_hash": last["hash"] if last else None,
            "contiguous": contiguous,
            "checkpoint": checkpoint.as_dict() if checkpoint else None,
        },
        "files": {"events.jsonl": jsonl.close(), "events.csv": csvf.close()},
        "key": {"key_id": signer.verifier.key_id, "public_key": signer.verifier.public_b64},
    }
    manifest["signature"] = signer.sign(canonical_json(manifest))
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def manifest_digest(out_dir: Path) -> str:
    return hashlib.sha256((out_dir / "manifest.json").read_bytes()).hexdigest()
