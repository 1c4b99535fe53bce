"""The escalation queue for CS and ops: open escalations oldest first, filtered by kind and age, each
with why in one sentence and the seed's "Include these details" report to copy.

The escalations are raised and resolved as events by the escalation policy; this page reads the same
queue `GET /cs/escalations` serves (`replay.escalation_queue`) and words it with `api.presentation`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from api.console.pages import QUEUE_ROLES, Page, View, page
from api.presentation import (
    ESCALATION_KIND_WORDS,
    escalation_kind_words,
    escalation_report_text,
    escalation_why,
)
from replay.escalation_queue import escalation_queue

PAGE_SIZE = 20


def _int(value: str | None) -> int:
    try:
        return max(0, min(10**7, int(value or 0)))
    except ValueError:
        return 0


@page("/console/escalations", roles=QUEUE_ROLES)
def queue(call: Page) -> View:
    rt, params, now = call.runtime, call.request.query_params, datetime.now(UTC)
    kind = params.get("kind", "")
    kind = kind if kind in ESCALATION_KIND_WORDS else ""
    state = "resolved" if params.get("state") == "resolved" else "open"
    older_than, after = _int(params.get("older_than")), _int(params.get("after"))
    found = escalation_queue(
        rt.deps.store,
        rt.views,
        rt.projections,
        call.principal.organization_id,
        now,
        state=state,
        kind=kind or None,
        older_than=timedelta(minutes=older_than) if older_than else None,
        after=after,
        limit=PAGE_SIZE,
    )
    rows = []
    for entry in found.entries:
        e = entry.escalation
        rows.append(
            {
                "id": e.escalation_id,
                "kind": e.kind,
                "kind_words": escalation_kind_words(e.kind),
                "order_id": e.order_id,
                "order_number": e.order_number,
                "patient": entry.patient_name,
                "age_seconds": ((e.resolved_at or now) - e.raised_at).total_seconds(),
                "raised_at": e.raised_at,
                "why": escalation_why(e.kind, e.details),
                "report": escalation_report_text(entry.report)
                if entry.report
                else "The order cannot be read.",
            }
        )
    filters = {"kind": kind, "state": state, "older_than": older_than or ""}
    return View(
        "queue.html",
        {
            "rows": rows,
            "total": found.total,
            "kinds": sorted(ESCALATION_KIND_WORDS.items(), key=lambda kv: kv[1]),
            "filters": filters,
            "next": None
            if found.next_after is None
            else "/console/escalations?" + urlencode({**filters, "after": found.next_after}),
            "first": "/console/escalations?" + urlencode(filters) if after else None,
        },
    )
