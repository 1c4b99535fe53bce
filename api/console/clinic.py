"""The clinic's pages (CONSOLE.md "Clinic"): today's carts and orders, the cart editor, order tracking.

Same sign-in and session as the operator console, role `clinic`; the session's subject is the clinic
user, and every read goes through the clinic-scoped use cases, so a patient's data reaches only
their own clinic's pages (another clinic's cart or order is "not found"). Forms post back here and
redirect (post/redirect/get), each with its CSRF token.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from api.clinic.models import clinic_order_out
from api.clinic.words import problem_words
from api.console.pages import Page, View, page
from api.error_words import detail_of
from domain.clinic.cart import LineDraft
from domain.clinic.pricing import alone_in_shipment
from domain.clinic.rejections import rejected_paid_line
from domain.clinic.validation import CartNotValid
from domain.errors import InvalidCommand
from service import clinic, orders
from service.clinic import reads, rejections

CLINIC_ROLES = ("clinic",)
# The dashboard's order groups (CONSOLE.md): awaiting pharmacy, shipped, rejected.
GROUPS = {
    "Awaiting the pharmacy": ("not_sent", "sent", "accepted", "processing", "submission_failed"),
    "Shipped": ("shipped", "delivered"),
    "Rejected": ("rejected",),
}


def _user(call: Page) -> str:
    return call.principal.subject or ""


@page("/console/clinic", roles=CLINIC_ROLES)
def dashboard(call: Page) -> View:
    deps, ctx, user = call.runtime.deps, call.ctx(), _user(call)
    carts = reads.carts(deps, ctx, user, None, 50, None).items
    found = reads.clinic_orders(deps, ctx, user, reads.OrderFilter(), 200, None).items
    shown = [clinic_order_out(o) for o in found]
    groups = {
        name: [o for o in shown if o.tracking.pharmacy_status in states and not o.refunded]
        for name, states in GROUPS.items()
    }
    return View(
        "clinic_home.html",
        {
            "carts": carts,
            "groups": groups,
            "counts": Counter(o.status for o in shown),
            "done": call.request.query_params.get("done", ""),
        },
    )


@page("/console/clinic/carts", roles=CLINIC_ROLES, methods=("POST",))
def new_cart(call: Page) -> Response:
    view = clinic.open_cart(call.runtime.deps, call.ctx(), _user(call))
    return RedirectResponse(f"/console/clinic/carts/{quote(view.cart.id)}", status_code=303)


@page("/console/clinic/carts/{cart_id}", roles=CLINIC_ROLES)
def cart_editor(call: Page) -> View:
    deps, ctx, user = call.runtime.deps, call.ctx(), _user(call)
    view = clinic.get_cart(deps, ctx, user, call.path("cart_id"))
    problems: dict[str | None, list[Any]] = {}
    if view.cart.last_validation is not None:
        for p in view.cart.last_validation.problems:
            problems.setdefault(p.line_id, []).append({"code": p.code, "detail": problem_words(p)})
    home = clinic.clinic_of(deps, ctx, user)
    choices = [
        {
            "value": f"{e.product.id}|{ph.id}",
            "label": f"{e.product.name} {o.strength} — {ph.name}",
            "landed": alone_in_shipment(ph, o, 1).landed_unit_cents,
            "days": o.turnaround_days,
            "on_hand": max(o.on_hand, 0),
        }
        for e in reads.catalog(deps, ctx, user, None, 500, None).items
        for ph, o in e.offers
    ]
    return View(
        "clinic_cart.html",
        {
            "view": view,
            "problems": problems,
            "patients": reads.roster(deps, ctx, user, None, None, 500, None).items,
            "prescribers": reads.prescribers(deps, ctx, user, None, 500, None).items,
            "choices": choices,
            "cards": home.payment_methods,
            "validated": view.cart.last_validation,
            "error": call.request.query_params.get("error", ""),
        },
    )


@page("/console/clinic/carts/{cart_id}/{action}", roles=CLINIC_ROLES, methods=("POST",))
def cart_action(call: Page) -> Response:
    deps, ctx, user, cart_id = call.runtime.deps, call.ctx(), _user(call), call.path("cart_id")
    here = f"/console/clinic/carts/{quote(cart_id)}"
    action = call.path("action")
    try:
        if action == "lines":
            product_id, _, pharmacy_id = call.field("choice").partition("|")
            draft = LineDraft(
                call.field("patient_id"),
                product_id,
                _quantity(call.field("quantity")),
                pharmacy_id,
                call.field("sig"),
                call.field("prescriber_id"),
            )
            clinic.add_lines(deps, ctx, user, cart_id, [draft])
        elif action == "change":
            clinic.change_line(
                deps,
                ctx,
                user,
                cart_id,
                call.field("line_id"),
                quantity=_quantity(call.field("quantity")) if call.field("quantity") else None,
                sig=call.field("sig") or None,
                prescriber_id=call.field("prescriber_id") or None,
            )
        elif action == "validate":
            clinic.validate(deps, ctx, user, cart_id)
        elif action == "checkout":
            result = clinic.checkout(deps, ctx, user, cart_id, call.field("payment_method_id"), None)
            words = f"Checked out: {len(result.orders)} orders, one payment"
            if result.attempt is not None and result.attempt.outcome == "failed":
                return RedirectResponse(
                    f"{here}?error={quote('Payment declined: ' + (result.attempt.message or ''))}", 303
                )
            return RedirectResponse(f"/console/clinic?done={quote(words)}", status_code=303)
        else:
            raise InvalidCommand("No such cart action.", field="action")
    except CartNotValid:
        clinic.validate(deps, ctx, user, cart_id)  # record it, so the problems show on their lines
        return RedirectResponse(f"{here}?error={quote('Fix the problems shown before checkout.')}", 303)
    except InvalidCommand as exc:
        return RedirectResponse(f"{here}?error={quote(detail_of(exc))}", status_code=303)
    return RedirectResponse(here, status_code=303)


def _quantity(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        raise InvalidCommand("Quantity must be a whole number of vials from 1 to 10,000.", field="quantity")
    return int(raw)


@page("/console/clinic/orders/{order_id}", roles=CLINIC_ROLES)
def order_tracking(call: Page) -> View:
    deps, ctx, user = call.runtime.deps, call.ctx(), _user(call)
    order = reads.clinic_order(deps, ctx, user, orders.get_order(deps, ctx, call.path("order_id")))
    return View(
        "clinic_order.html",
        {
            "order": clinic_order_out(order),
            "number": order.number,
            "rejected": rejected_paid_line(order),
            "done": call.request.query_params.get("done", ""),
        },
    )


@page("/console/clinic/orders/{order_id}/{action}", roles=CLINIC_ROLES, methods=("POST",))
def order_action(call: Page) -> Response:
    deps, ctx, user, order_id = call.runtime.deps, call.ctx(), _user(call), call.path("order_id")
    reason = call.field("reason")
    if not reason:
        raise InvalidCommand("Say why: the reason is recorded.", field="reason")
    if call.path("action") == "refund":
        rejections.refund_rejected_line(deps, ctx, user, order_id, reason)
        done = "Refunded this line"
    elif call.path("action") == "resubmit":
        rejections.resubmit_rejected_line(
            deps,
            ctx,
            user,
            order_id,
            reason,
            frozenset(call.runtime.pharmacies),
            sig=call.field("sig") or None,
            prescriber_id=call.field("prescriber_id") or None,
        )
        done = "Sent to the pharmacy again"
    else:
        raise InvalidCommand("No such order action.", field="action")
    return RedirectResponse(f"/console/clinic/orders/{quote(order_id)}?done={quote(done)}", status_code=303)


routes = [dashboard, new_cart, cart_editor, cart_action, order_tracking, order_action]
