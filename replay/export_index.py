"""Which compliance exports an organization has, newest first: read from the log by event type, so
the list needs no read model of its own (exports are few; each is an aggregate with its own stream)."""

from __future__ import annotations

from adapters.eventstore import LedgerStore, decode_notification
from domain.audit import ComplianceExport
from replay.history import load


def recent_exports(store: LedgerStore, organization_id: str, limit: int = 50) -> list[ComplianceExport]:
    ids: list[str] = []
    for n in store.iter_notifications(topics=("ComplianceExportRequested",)):
        if decode_notification(n).meta.organization_id == organization_id:
            ids.append(str(n.originator_id))
    found = (load(store, "compliance_export", export_id) for export_id in reversed(ids[-limit:]))
    return [e for e in found if isinstance(e, ComplianceExport)]
