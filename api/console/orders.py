"""Find an order and read it on one screen: `/console/orders` and `/console/orders/{ref}`."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from api.console import actions
from api.console.order_view import load_order_view, resolve, waiting_for
from api.console.pages import ORDER_ROLES, Page, View, page, safe_next
from api.error_words import detail_of
from api.order_words import kind_words
from domain.errors import DomainError
from service.search import search_orders

SEARCH_PURPOSE = "console search"


@page("/console/orders", roles=ORDER_ROLES)
def find(call: Page) -> View:
    q = call.request.query_params.get("q", "").strip()
    context: dict[str, object] = {"query": q, "results": None, "problem": None, "matched_by": None}
    if q:
        rt = call.runtime
        try:
            found = search_orders(
                rt.deps, rt.views, rt.projections, call.ctx(), q, limit=50, purpose=SEARCH_PURPOSE
            )
        except DomainError as exc:  # a query that is none of number, e-mail or name: say so on the page
            context["problem"] = detail_of(exc)
        else:
            context["matched_by"] = found.query.kind
            context["results"] = [
                {
                    "id": r.order_id,
                    "number": r.number,
                    "patient": r.patient_name,
                    "email": r.patient_email,
                    "status": r.status,
                    "kind": kind_words(r.source_context, r.refill_of_number, r.cycle_number, "staff")[0],
                    "placed_at": r.placed_at,
                }
                for r in found.orders
            ]
    return View("find.html", context)


DONE_WORDS = {
    "retry-review": "The medical review was sent again.",
    "new-consult": "A new consult was opened and submitted.",
    "fix-mapping": "The product's mapping was saved. CS or ops can now retry the medical review.",
    "refund": "The order was refunded.",
    "cancel": "The order was canceled.",
    "resubmit": "The order was sent to the pharmacy again.",
}


@page("/console/orders/{ref}", roles=ORDER_ROLES)
def order_page(call: Page) -> View:
    order_id = resolve(call, call.path("ref"))
    view = load_order_view(call, order_id)
    newest_first = call.request.query_params.get("timeline") != "oldest"
    done = call.request.query_params.get("done", "")
    return View(
        "order.html",
        {
            "v": view,
            "cs": view.cs,
            "waiting": waiting_for(view.cs),
            "actions": actions.available(call, view),
            "events": list(reversed(view.timeline)) if newest_first else view.timeline,
            "newest_first": newest_first,
            "event_ids": {e["id"] for e in view.timeline},
            "done": DONE_WORDS.get(done),
        },
    )


@page("/console/orders/{ref}/actions/{name}", roles=ORDER_ROLES, methods=("POST",))
def take_action(call: Page) -> Response:
    order_id = resolve(call, call.path("ref"))
    view = load_order_view(call, order_id, audit=False)
    name = call.path("name")
    actions.take(call, view, name)
    back = safe_next(call.field("next"))
    if back:
        separator = "&" if "?" in back else "?"
        return RedirectResponse(
            f"{back}{separator}done={quote(name)}&order={quote(view.order.placed.number)}", 303
        )
    return RedirectResponse(f"/console/orders/{quote(order_id)}?done={quote(name)}#timeline", status_code=303)
