"""Which compliance exports an organization has, newest first: read from the log by event type, so
the list needs no read model of its own (exports are few; each is an aggregate with its own stream)."""

from __future__ import annotations

import json
from pathlib import Path

from adapters.eventstore import LedgerStore, decode_notification
from domain.audit import ComplianceExport
from replay.history import load

MANIFEST = "manifest.json"


def export_file(export: ComplianceExport, name: str) -> Path | None:
    """One file of a completed export — its manifest or a file the manifest lists — or None."""
    done = export.completed
    if done is None:
        return None
    manifest_path = Path(done.location) / MANIFEST
    if not manifest_path.exists():
        return None
    listed = json.loads(manifest_path.read_text()).get("files", {})
    if name != MANIFEST and name not in listed:
        return None  # never a path a caller made up: only names the signed manifest lists
    path = Path(done.location) / name
    return path if path.exists() else None


def recent_exports(store: LedgerStore, organization_id: str, limit: int = 50) -> list[ComplianceExport]:
    ids: list[str] = []
    for n in store.iter_notifications(topics=("ComplianceExportRequested",)):
        if decode_notification(n).meta.organization_id == organization_id:
            ids.append(str(n.originator_id))
    found = (load(store, ComplianceExport, export_id) for export_id in reversed(ids[-limit:]))
    return [e for e in found if isinstance(e, ComplianceExport)]


def running_exports(store: LedgerStore) -> list[tuple[str, ComplianceExport]]:
    """Every organization's exports still `running`, with the organization each belongs to."""
    found: list[tuple[str, ComplianceExport]] = []
    for n in store.iter_notifications(topics=("ComplianceExportRequested",)):
        export = load(store, ComplianceExport, str(n.originator_id))
        if isinstance(export, ComplianceExport) and export.status == "running":
            found.append((decode_notification(n).meta.organization_id, export))
    return found
