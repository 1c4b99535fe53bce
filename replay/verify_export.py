"""`ledger verify-export <dir>`: check an export offline, with nothing but the ledger's public key.

Checks, in order: the manifest's signature and key; the signed checkpoint it carries; each file's
size and sha256; every JSON Lines record re-hashed into its chain link (and, for a contiguous
export, each link chained to the one before); the CSV agreeing row by row with the JSON Lines;
and the counts, positions, first/last hashes and time range the manifest states.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from adapters.chain import Verifier, canonical_event, canonical_json, checkpoint_message, link


def _body(record: dict[str, Any]) -> dict[str, Any]:
    """The stored body an export line was made from (the mapper's field names)."""
    return {
        "v": record["schema_version"],
        "event_id": record["id"],
        "organization_id": record["organization_id"],
        "occurred_at": record["occurred_at"],
        "actor": record["actor"],
        "correlation_id": record["correlation_id"],
        "causation_id": record["causation_id"],
        "data": record["data"],
    }


def _file_digest(path: Path) -> dict[str, Any]:
    sha, size, lines = hashlib.sha256(), 0, 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
            size += len(chunk)
            lines += chunk.count(b"\n")
    return {"sha256": sha.hexdigest(), "bytes": size, "lines": lines}


def verify_export(directory: Path, verifier: Verifier) -> list[str]:
    """Every problem found (empty when the export is intact and signed by this key)."""
    manifest: dict[str, Any] = json.loads((directory / "manifest.json").read_text())
    problems: list[str] = []
    signature = manifest.pop("signature", "")
    if manifest.get("key", {}).get("key_id") != verifier.key_id:
        problems.append("the manifest names another signing key")
    if not verifier.verify(canonical_json(manifest), signature):
        return [*problems, "the manifest's signature does not verify"]
    cp = manifest["chain"].get("checkpoint")
    if cp and not verifier.verify(checkpoint_message(cp["position"], cp["hash"]), cp["signature"]):
        problems.append("the checkpoint's signature does not verify")
    for name, stated in manifest["files"].items():
        actual = _file_digest(directory / name)
        if actual["sha256"] != stated["sha256"] or actual["bytes"] != stated["bytes"]:
            problems.append(f"{name} is not the file that was signed")
    if problems:
        return problems
    return _check_records(directory, manifest)


def _check_records(directory: Path, manifest: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    count, prev_position, prev_hash = 0, 0, None
    first_prev, last_hash, earliest, latest = None, None, None, None
    by_type: Counter[str] = Counter()
    contiguous = manifest["chain"]["contiguous"]
    with (directory / "events.jsonl").open() as lines, (directory / "events.csv").open(newline="") as table:
        rows = csv.reader(table)
        next(rows, None)  # header
        for line in lines:
            r = json.loads(line)
            row = next(rows, None)
            p = r["position"]
            canonical = canonical_event(p, r["aggregate_id"], r["version"], r["type"], _body(r))
            if link(r["prev_hash"], canonical) != r["hash"]:
                problems.append(f"position {p}: the record does not hash to its chain link")
            if p <= prev_position:
                problems.append(f"position {p}: out of order")
            if contiguous and prev_hash is not None and r["prev_hash"] != prev_hash:
                problems.append(f"position {p}: does not chain to the record before it")
            if row is None or (int(row[0]), row[1], row[13]) != (p, r["id"], r["hash"]):
                problems.append(f"position {p}: the CSV row disagrees with the JSON Lines record")
            if problems:
                return problems
            first_prev = r["prev_hash"] if first_prev is None else first_prev
            prev_position, prev_hash, last_hash = p, r["hash"], r["hash"]
            earliest = r["occurred_at"] if earliest is None or r["occurred_at"] < earliest else earliest
            latest = r["occurred_at"] if latest is None or r["occurred_at"] > latest else latest
            by_type[r["type"]] += 1
            count += 1
        if next(rows, None) is not None:
            problems.append("the CSV has rows the JSON Lines does not")
    stated = manifest
    if count != stated["counts"]["events"] or dict(by_type) != stated["counts"]["by_type"]:
        problems.append("the counts differ from the manifest")
    if (first_prev, last_hash) != (stated["chain"]["first_prev_hash"], stated["chain"]["last_hash"]):
        problems.append("the first or last chain hash differs from the manifest")
    if (earliest, latest) != (
        stated["time_range"]["first_occurred_at"],
        stated["time_range"]["last_occurred_at"],
    ):
        problems.append("the time range differs from the manifest")
    cp = stated["chain"].get("checkpoint")
    if cp and count and cp["position"] == prev_position and cp["hash"] != last_hash:
        problems.append("the last record disagrees with the signed checkpoint")
    return problems
