"""Filling a clinic cart faster: quickfills (saved line templates), reorder, and pharmacy choice."""

from __future__ import annotations

from dataclasses import replace

from domain.clinic.cart import LineDraft
from domain.clinic.directory import Clinic
from domain.clinic.quickfills import Quickfill, QuickfillSaved
from domain.clinic.suggestion import PharmacyOption, RankBy, Unfit
from domain.clinic.suggestion import pharmacy_options as rank_options
from domain.errors import InvalidCommand, NotFound
from domain.orders import Order
from service.catalog import get_patient
from service.clinic.cart import CartView, add_lines, check_draft, load_world
from service.clinic.directory import all_pharmacies, clinic_of, get_product, start_stream
from service.deps import Deps
from service.unit import Context, load_owned


def save_quickfill(
    deps: Deps,
    ctx: Context,
    user_id: str,
    *,
    name: str,
    product_id: str,
    quantity: int,
    pharmacy_id: str,
    sig: str,
    prescriber_id: str,
) -> Quickfill:
    clinic = clinic_of(deps, ctx, user_id)
    if quantity < 1:
        raise InvalidCommand("Quantity must be at least 1.", field="quantity")
    template = LineDraft("", product_id, quantity, pharmacy_id, sig, prescriber_id)
    world = load_world(deps, ctx, clinic, [template])
    check_draft(template, replace(world, patient_states={"": "-"}))  # no patient on a template
    qid = deps.new_uuid()
    start_stream(
        deps,
        ctx,
        qid,
        QuickfillSaved(
            clinic_id=clinic.id,
            name=name,
            product_id=product_id,
            quantity=quantity,
            pharmacy_id=pharmacy_id,
            sig=sig,
            prescriber_id=prescriber_id,
        ),
    )
    return _quickfill(deps, ctx, clinic, str(qid))


def _quickfill(deps: Deps, ctx: Context, clinic: Clinic, quickfill_id: str) -> Quickfill:
    state = load_owned(deps.store, ctx, Quickfill, quickfill_id).state
    if state.clinic_id != clinic.id:
        raise NotFound("No such quickfill.")
    return state


def apply_quickfill(
    deps: Deps, ctx: Context, user_id: str, cart_id: str, quickfill_id: str, patient_ids: list[str]
) -> CartView:
    """One template, many patients: each becomes its own line (or merges into that patient's line)."""
    if not patient_ids:
        raise InvalidCommand("Name at least one patient.", field="patient_ids")
    template = _quickfill(deps, ctx, clinic_of(deps, ctx, user_id), quickfill_id)
    return add_lines(deps, ctx, user_id, cart_id, [template.draft_for(p) for p in dict.fromkeys(patient_ids)])


def reorder(deps: Deps, ctx: Context, user_id: str, cart_id: str, order_id: str) -> CartView:
    """Put a past clinic order's lines back into a cart, with their pharmacy, SIG and prescriber.

    A line for the same patient and product already in the cart takes the reorder's quantity; the
    view's `merges` says so, and whether its pharmacy, SIG or prescriber changed.
    """
    clinic = clinic_of(deps, ctx, user_id)
    order: Order = load_owned(deps.store, ctx, Order, order_id).state
    if order.placed.clinic_id != clinic.id:
        raise NotFound("No such order.")
    drafts = [
        LineDraft(
            order.patient_id,
            ln.product_id,
            ln.quantity,
            ln.pharmacy_id,
            ln.sig or "",
            ln.prescriber_id,
            origin=f"reorder:{order_id}",
        )
        for ln in order.placed.lines
        if ln.pharmacy_id and ln.prescriber_id
    ]
    return add_lines(deps, ctx, user_id, cart_id, drafts)


def pharmacy_options(
    deps: Deps,
    ctx: Context,
    user_id: str,
    product_id: str,
    patient_id: str | None,
    by: RankBy,
    quantity: int = 1,
) -> tuple[list[PharmacyOption], list[Unfit]]:
    clinic = clinic_of(deps, ctx, user_id)
    get_product(deps, ctx, product_id)
    state = None
    if patient_id is not None:
        if patient_id not in clinic.patient_ids:
            raise NotFound("No such patient.")
        state = get_patient(deps, ctx, patient_id).state
    return rank_options(all_pharmacies(deps, ctx), product_id, state, max(quantity, 1), by)
