"""The clinic user's cart: open, add / change / remove lines, view with landed cost, validate.

Every command resolves the clinic from the user id the token names; a cart, prescriber or patient
of another clinic is "not found". Pure rules live in `domain.clinic`; this module loads what they
need (`load_world`), calls them and commits once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TypeVar

from domain.catalog import Product
from domain.clinic.cart import (
    Cart,
    CartOpened,
    CartValidated,
    LineDraft,
    LineProblem,
    Merge,
    evolve_cart,
    merge_of,
)
from domain.clinic.cart import add_line as decide_add
from domain.clinic.cart import change_line as decide_change
from domain.clinic.cart import remove_line as decide_remove
from domain.clinic.checkout import cart_total, price_cart
from domain.clinic.directory import Clinic, Prescriber
from domain.clinic.pharmacies import Pharmacy
from domain.clinic.pricing import LandedCost
from domain.clinic.validation import CartWorld, validate_cart
from domain.errors import InvalidCommand, NotFound
from domain.events import Fact
from domain.parties import Patient
from service.clinic.directory import clinic_of, start_stream
from service.deps import Deps, retry_on_conflict
from service.unit import Context, Loaded, load_owned, try_load

S = TypeVar("S")


@dataclass(frozen=True)
class CartView:
    cart: Cart
    prices: dict[str, LandedCost]  # by line id: the pharmacy's *current* landed cost
    total_cents: int
    currency: str
    world: CartWorld  # what the lines name (patients, products, pharmacies, prescribers), for names
    merges: tuple[Merge, ...] = ()  # what the command that produced this view merged


def owned_cart(deps: Deps, ctx: Context, clinic: Clinic, cart_id: str) -> Loaded[Cart]:
    loaded = load_owned(deps.store, ctx, Cart, cart_id)
    if loaded.state.clinic_id != clinic.id:
        raise NotFound("No such cart.")
    return loaded


def load_world(deps: Deps, ctx: Context, clinic: Clinic, lines: Iterable[LineDraft]) -> CartWorld:
    """Load each thing the lines name once; what the clinic may not use is simply left out."""
    lines = list(lines)

    def owned(kind: type[S], ids: set[str]) -> dict[str, S]:
        found = (try_load(deps.store, kind, i) for i in sorted(ids))
        return {
            str(f.id): f.state for f in found if f is not None and f.organization_id == ctx.organization_id
        }

    patients = owned(Patient, {ln.patient_id for ln in lines} & clinic.patient_ids)
    prescribers = owned(Prescriber, {ln.prescriber_id for ln in lines})
    return CartWorld(
        patient_states={k: v.state for k, v in patients.items()},
        patient_names={k: v.name for k, v in patients.items()},
        prescribers={k: v for k, v in prescribers.items() if v.clinic_id == clinic.id},
        products=owned(Product, {ln.product_id for ln in lines}),
        pharmacies=owned(Pharmacy, {ln.pharmacy_id for ln in lines}),
    )


def drafts_of(cart: Cart) -> list[LineDraft]:
    return [
        LineDraft(ln.patient_id, ln.product_id, ln.quantity, ln.pharmacy_id, ln.sig, ln.prescriber_id)
        for ln in cart.lines.values()
    ]


def cart_world(deps: Deps, ctx: Context, clinic: Clinic, cart: Cart) -> CartWorld:
    return load_world(deps, ctx, clinic, drafts_of(cart))


def _view(deps: Deps, ctx: Context, clinic: Clinic, cart: Cart) -> CartView:
    world = cart_world(deps, ctx, clinic, cart)
    prices = price_cart(cart, world)
    currencies = {p.currency for p in world.pharmacies.values()}
    currency = currencies.pop() if len(currencies) == 1 else "usd"
    return CartView(cart, prices, cart_total(prices), currency, world)


def open_cart(deps: Deps, ctx: Context, user_id: str) -> CartView:
    clinic = clinic_of(deps, ctx, user_id)
    cart_id = deps.new_uuid()
    start_stream(deps, ctx, cart_id, CartOpened(clinic_id=clinic.id))
    return get_cart(deps, ctx, user_id, str(cart_id))


def get_cart(deps: Deps, ctx: Context, user_id: str, cart_id: str) -> CartView:
    clinic = clinic_of(deps, ctx, user_id)
    return _view(deps, ctx, clinic, owned_cart(deps, ctx, clinic, cart_id).state)


def check_draft(draft: LineDraft, world: CartWorld) -> None:
    """What a line must name to be a line at all; whether it can be *filled* is validation's job."""
    if draft.patient_id not in world.patient_states:
        raise NotFound("No such patient.")
    if draft.prescriber_id not in world.prescribers:
        raise NotFound("No such prescriber.")
    if draft.product_id not in world.products:
        raise NotFound("No such product.")
    pharmacy = world.pharmacies.get(draft.pharmacy_id)
    if pharmacy is None:
        raise NotFound("No such pharmacy.")
    if pharmacy.offering(draft.product_id) is None:
        raise InvalidCommand(
            f"{pharmacy.name} does not compound this product.",
            field="pharmacy_id",
            reasons=("PRODUCT_NOT_AT_PHARMACY",),
        )


def add_lines(deps: Deps, ctx: Context, user_id: str, cart_id: str, drafts: list[LineDraft]) -> CartView:
    """Add lines in one commit, merging by patient and product; the view reports every merge."""
    clinic = clinic_of(deps, ctx, user_id)
    world = load_world(deps, ctx, clinic, drafts)
    for draft in drafts:
        check_draft(draft, world)

    def attempt() -> tuple[Cart, tuple[Merge, ...]]:
        loaded = owned_cart(deps, ctx, clinic, cart_id)
        cart: Cart = loaded.state
        facts: list[Fact] = []
        merges: list[Merge] = []
        for draft in drafts:
            fact = decide_add(cart, draft, deps.new_id())
            merge = merge_of(cart, fact)
            if merge is not None:
                merges.append(merge)
            cart = evolve_cart(cart, fact, cart.id)  # later drafts merge into earlier ones
            facts.append(fact)
        batch = deps.batch(ctx)
        batch.extend(loaded, *facts)
        deps.commit(batch)
        return cart, tuple(merges)

    cart, merges = retry_on_conflict(attempt)
    view = _view(deps, ctx, clinic, cart)
    # a merge may have moved a line off a pharmacy: keep that one too, to name it in the report
    before = {m.pharmacy_before for m in merges} - set(view.world.pharmacies)
    named = load_world(deps, ctx, clinic, [replace(drafts[0], pharmacy_id=p) for p in before]).pharmacies
    world = replace(view.world, pharmacies={**named, **view.world.pharmacies})
    return replace(view, merges=merges, world=world)


def change_line(
    deps: Deps,
    ctx: Context,
    user_id: str,
    cart_id: str,
    line_id: str,
    *,
    quantity: int | None = None,
    pharmacy_id: str | None = None,
    sig: str | None = None,
    prescriber_id: str | None = None,
) -> CartView:
    clinic = clinic_of(deps, ctx, user_id)

    def attempt() -> Cart:
        loaded = owned_cart(deps, ctx, clinic, cart_id)
        facts = decide_change(
            loaded.state,
            line_id,
            quantity=quantity,
            pharmacy_id=pharmacy_id,
            sig=sig,
            prescriber_id=prescriber_id,
        )
        if facts:
            changed = loaded.state.lines[line_id]
            draft = LineDraft(
                changed.patient_id,
                changed.product_id,
                1,
                pharmacy_id or changed.pharmacy_id,
                "",
                prescriber_id or changed.prescriber_id,
            )
            check_draft(draft, load_world(deps, ctx, clinic, [draft]))
        batch = deps.batch(ctx)
        batch.extend(loaded, *facts)
        deps.commit(batch)
        return owned_cart(deps, ctx, clinic, cart_id).state

    return _view(deps, ctx, clinic, retry_on_conflict(attempt))


def remove_line(deps: Deps, ctx: Context, user_id: str, cart_id: str, line_id: str) -> CartView:
    clinic = clinic_of(deps, ctx, user_id)

    def attempt() -> Cart:
        loaded = owned_cart(deps, ctx, clinic, cart_id)
        batch = deps.batch(ctx)
        batch.extend(loaded, decide_remove(loaded.state, line_id))
        deps.commit(batch)
        return owned_cart(deps, ctx, clinic, cart_id).state

    return _view(deps, ctx, clinic, retry_on_conflict(attempt))


def validate(deps: Deps, ctx: Context, user_id: str, cart_id: str) -> CartValidated:
    """Validate the whole cart and record the outcome, so the audit shows what was known before paying
    (once per distinct outcome: validating an unchanged cart again records nothing new)."""
    clinic = clinic_of(deps, ctx, user_id)

    def attempt() -> CartValidated:
        loaded = owned_cart(deps, ctx, clinic, cart_id)
        cart: Cart = loaded.state
        world = cart_world(deps, ctx, clinic, cart)
        problems = validate_cart(cart, world)
        outcome = CartValidated(
            ok=not problems,
            problems=problems,
            line_count=len(cart.lines),
            total_cents=cart_total(price_cart(cart, world)),
        )
        # The same outcome on an unchanged cart is already on record (any edit clears it): a second
        # record would tell the audit nothing and grow the cart's stream with every click.
        if cart.checked_out is None and cart.last_validation != outcome:
            batch = deps.batch(ctx)
            batch.extend(loaded, outcome)
            deps.commit(batch)
        return outcome

    return retry_on_conflict(attempt)


def validate_only(deps: Deps, ctx: Context, user_id: str, cart_id: str) -> tuple[LineProblem, ...]:
    """The same check without recording it (for the benchmark and for views)."""
    clinic = clinic_of(deps, ctx, user_id)
    cart: Cart = owned_cart(deps, ctx, clinic, cart_id).state
    return validate_cart(cart, cart_world(deps, ctx, clinic, cart))
