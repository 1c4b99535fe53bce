"""Stuck orders for ops and CS: a paged, filtered table whose fix buttons the service would accept.

Each row's fix is the action the order's first blocker names, offered only when this role may take it
and the service's own refusal check passes on the order as it stands (`actions.offered`); otherwise the
row links to the order page and says what to do in words.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from api.console import actions
from api.console.orders import DONE_WORDS
from api.console.pages import STUCK_ROLES, Page, View, page
from api.console.words import without_routes
from api.explain_words import blocker_from, blocker_words
from domain.errors import NotFound
from projections.runner import catch_up
from projections.stuck import stuck_orders
from service import orders

PAGE_SIZE = 20
FIX_FOR_ACTION = {
    "RETRY_MEDICAL_REVIEW": "retry-review",
    "FIX_PRODUCT_AND_RETRY_REVIEW": "fix-mapping",
    "FIX_PRODUCT": "fix-mapping",
    "START_NEW_CONSULT": "new-consult",
    "RESUBMIT_TO_PHARMACY": "resubmit",
    "CANCEL_OR_REFUND": "refund",
}


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value or default)))
    except ValueError:
        return default


@page("/console/stuck", roles=STUCK_ROLES)
def stuck(call: Page) -> View:
    rt, params = call.runtime, call.request.query_params
    code, status = params.get("code", ""), params.get("status", "")
    older_than = _int(params.get("older_than"), 0, 0, 10**7)  # minutes
    offset = _int(params.get("offset"), 0, 0, 10**6)
    projection = next((p for p in rt.projections if p.name == "stuck_orders"), None)
    if projection is None:
        raise NotFound("The stuck-orders projection is not registered.")
    catch_up(rt.deps.store, rt.views, projection)
    # Ages are measured by the ledger's clock, as `/ops/stuck` measures them (`LEDGER_NOW`, tests).
    every = stuck_orders(rt.views, call.principal.organization_id, rt.deps.clock(), limit=2000)
    codes = sorted({r["blocking_code"] for r in every})
    statuses = sorted({r["status"] for r in every})
    matching = [
        r
        for r in every
        if (not code or r["blocking_code"] == code)
        and (not status or r["status"] == status)
        and r["age_seconds"] >= older_than * 60
    ]
    shown = [_row(call, r) for r in matching[offset : offset + PAGE_SIZE]]
    query = {"code": code, "status": status, "older_than": older_than or ""}
    here = "/console/stuck?" + urlencode({**query, "offset": offset})
    return View(
        "stuck.html",
        {
            "rows": shown,
            "total": len(matching),
            "offset": offset,
            "page_size": PAGE_SIZE,
            "codes": codes,
            "statuses": statuses,
            "filters": query,
            "here": here,
            "done": DONE_WORDS.get(params.get("done", "")),
            "done_order": params.get("order", ""),
            "prev": None
            if offset == 0
            else "/console/stuck?" + urlencode({**query, "offset": max(0, offset - PAGE_SIZE)}),
            "next": None
            if offset + PAGE_SIZE >= len(matching)
            else "/console/stuck?" + urlencode({**query, "offset": offset + PAGE_SIZE}),
        },
    )


def _row(call: Page, row: dict[str, Any]) -> dict[str, Any]:
    blocker = blocker_from(row["blocker"])
    reason, fix_words = blocker_words(blocker, row["order_id"], "staff")
    deps, ctx = call.runtime.deps, call.ctx()
    order = orders.get_order(deps, ctx, row["order_id"])
    invoice = orders.get_invoice(deps, ctx, order.placed.invoice_id)
    wanted = FIX_FOR_ACTION.get(blocker.action)
    fix = next(
        (
            a
            for a in actions.offered(call.principal.role, order, invoice, [row["blocker"]])
            if a.name == wanted
        ),
        None,
    )
    return {**row, "reason": reason, "fix_words": without_routes(fix_words), "fix": fix}
