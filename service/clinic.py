"""Clinic ordering commands: directory set-up, the cart, validation, one checkout, quickfills, reorder.

Every clinic-user command starts from the user id the token names and resolves the clinic from
it; a cart, quickfill, prescriber, patient or order of another clinic is "not found". Pure rules
live in `domain.clinic`; this module loads what they need, calls them and commits once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from uuid import UUID

from adapters.eventstore import decode_notification
from adapters.payments.port import InvalidPaymentToken
from domain.catalog import Product
from domain.clinic import directory, pharmacies
from domain.clinic.cart import Cart, CartOpened, CartValidated, LineDraft, LineProblem, evolve_cart
from domain.clinic.cart import add_line as decide_add
from domain.clinic.cart import change_line as decide_change
from domain.clinic.cart import remove_line as decide_remove
from domain.clinic.checkout import CheckoutIds, cart_total, plan_checkout, price_cart
from domain.clinic.directory import Clinic, ClinicUser, Prescriber
from domain.clinic.pharmacies import Pharmacy
from domain.clinic.pricing import LandedCost
from domain.clinic.quickfills import Quickfill, QuickfillSaved
from domain.clinic.suggestion import PharmacyOption, RankBy
from domain.clinic.suggestion import pharmacy_options as rank_options
from domain.clinic.validation import CartWorld, validate_cart
from domain.errors import InvalidCommand, NotFound
from domain.events import Fact
from domain.invoices import Attempt, Invoice
from domain.orders import Order
from domain.parties import Patient, SavedPaymentMethod
from service.catalog import get_patient
from service.deps import Deps, retry_on_conflict
from service.idempotency import KeyedRequest, claim, claimed_resource
from service.payments import charge_invoice
from service.unit import Context, Loaded, load_owned, try_load


@dataclass(frozen=True)
class CartView:
    cart: Cart
    prices: dict[str, LandedCost]  # by line id: the pharmacy's *current* landed cost
    total_cents: int
    currency: str


@dataclass(frozen=True)
class CheckoutResult:
    cart: Cart
    orders: list[Order]
    invoice: Invoice
    attempt: Attempt | None
    created: bool  # False: an earlier checkout (or key) was returned, nothing new was placed


# -- directory: staff / service set-up ------------------------------------------------------------

def _new(deps: Deps, given: str | None) -> UUID:
    return UUID(given) if given else deps.new_uuid()


def _start(deps: Deps, ctx: Context, aggregate_id: UUID, *facts: Fact) -> None:
    batch = deps.batch(ctx)
    batch.start(aggregate_id, *facts)
    deps.commit(batch)


def _append(deps: Deps, ctx: Context, aggregate_type: str, aggregate_id: str, *facts: Fact) -> None:
    def attempt() -> None:
        loaded = load_owned(deps.store, ctx, aggregate_type, aggregate_id)
        batch = deps.batch(ctx)
        batch.extend(loaded, *facts)
        deps.commit(batch)

    retry_on_conflict(attempt)


def _get(deps: Deps, ctx: Context, aggregate_type: str, aggregate_id: str) -> object:
    return load_owned(deps.store, ctx, aggregate_type, aggregate_id).state


def register_clinic(deps: Deps, ctx: Context, name: str, *, clinic_id: str | None = None) -> Clinic:
    cid = _new(deps, clinic_id)
    _start(deps, ctx, cid, directory.ClinicRegistered(name=name))
    return get_clinic(deps, ctx, str(cid))


def get_clinic(deps: Deps, ctx: Context, clinic_id: str) -> Clinic:
    state = _get(deps, ctx, "clinic", clinic_id)
    assert isinstance(state, Clinic)
    return state


def register_clinic_user(deps: Deps, ctx: Context, clinic_id: str, name: str, email: str,
                         *, user_id: str | None = None) -> ClinicUser:
    get_clinic(deps, ctx, clinic_id)
    uid = _new(deps, user_id)
    _start(deps, ctx, uid, directory.ClinicUserRegistered(clinic_id=clinic_id, name=name, email=email))
    state = _get(deps, ctx, "clinic_user", str(uid))
    assert isinstance(state, ClinicUser)
    return state


def enroll_patient(deps: Deps, ctx: Context, clinic_id: str, patient_id: str) -> Clinic:
    get_patient(deps, ctx, patient_id)
    if patient_id not in get_clinic(deps, ctx, clinic_id).patient_ids:
        _append(deps, ctx, "clinic", clinic_id, directory.ClinicPatientEnrolled(patient_id=patient_id))
    return get_clinic(deps, ctx, clinic_id)


def save_clinic_payment_method(deps: Deps, ctx: Context, clinic_id: str, *, gateway: str, token: str,
                               label: str | None = None) -> tuple[Clinic, str]:
    """Store the clinic's card at the gateway first, then record it; a refused token records nothing."""
    clinic = get_clinic(deps, ctx, clinic_id)
    try:
        card = deps.gateway(gateway).save_card(customer_ref=clinic.customer_ref(gateway), token=token,
                                               reference=f"clinic-{clinic_id}")
    except InvalidPaymentToken as exc:
        raise InvalidCommand(f"The gateway refused the payment token: {exc}", field="token") from exc
    method_id = deps.new_id()
    _append(deps, ctx, "clinic", clinic_id, directory.ClinicPaymentMethodSaved(
        payment_method_id=method_id, gateway=gateway, customer_ref=card.customer_ref,
        payment_method_ref=card.payment_method_ref, label=label, brand=card.brand, last4=card.last4))
    return get_clinic(deps, ctx, clinic_id), method_id


def register_prescriber(deps: Deps, ctx: Context, clinic_id: str, name: str, npi: str,
                        licensed_states: list[str], *, prescriber_id: str | None = None) -> Prescriber:
    get_clinic(deps, ctx, clinic_id)
    pid = _new(deps, prescriber_id)
    _start(deps, ctx, pid, directory.register_prescriber(clinic_id, name, npi, licensed_states))
    return get_prescriber(deps, ctx, str(pid))


def get_prescriber(deps: Deps, ctx: Context, prescriber_id: str) -> Prescriber:
    state = _get(deps, ctx, "prescriber", prescriber_id)
    assert isinstance(state, Prescriber)
    return state


def register_pharmacy(deps: Deps, ctx: Context, name: str, partner: str, licensed_states: list[str],
                      shipping_cents: int, currency: str = "usd", *,
                      pharmacy_id: str | None = None) -> Pharmacy:
    if shipping_cents < 0:
        raise InvalidCommand("Shipping cannot be negative.", field="shipping_cents")
    pid = _new(deps, pharmacy_id)
    _start(deps, ctx, pid, pharmacies.PharmacyRegistered(
        name=name, partner=partner, licensed_states=directory.states(licensed_states, "licensed_states"),
        shipping_cents=shipping_cents, currency=currency))
    return get_pharmacy(deps, ctx, str(pid))


def get_pharmacy(deps: Deps, ctx: Context, pharmacy_id: str) -> Pharmacy:
    state = _get(deps, ctx, "pharmacy", pharmacy_id)
    assert isinstance(state, Pharmacy)
    return state


def set_offering(deps: Deps, ctx: Context, pharmacy_id: str, product_id: str, *, strength: str,
                 vial_price_cents: int, fee_cents: int, turnaround_days: int, active: bool = True,
                 on_hand: int | None = None) -> Pharmacy:
    _product(deps, ctx, product_id)
    if min(vial_price_cents, fee_cents, turnaround_days) < 0:
        raise InvalidCommand("Prices, fees and turnaround cannot be negative.", field="vial_price_cents")
    facts: list[Fact] = [pharmacies.PharmacyOfferingSet(
        product_id=product_id, strength=strength, vial_price_cents=vial_price_cents, fee_cents=fee_cents,
        turnaround_days=turnaround_days, active=active)]
    if on_hand is not None:
        facts.append(pharmacies.PharmacyStockReported(product_id=product_id, on_hand=on_hand))
    _append(deps, ctx, "pharmacy", pharmacy_id, *facts)
    return get_pharmacy(deps, ctx, pharmacy_id)


def report_stock(deps: Deps, ctx: Context, pharmacy_id: str, product_id: str, on_hand: int) -> Pharmacy:
    if on_hand < 0:
        raise InvalidCommand("Stock cannot be negative.", field="on_hand")
    _append(deps, ctx, "pharmacy", pharmacy_id,
            pharmacies.PharmacyStockReported(product_id=product_id, on_hand=on_hand))
    return get_pharmacy(deps, ctx, pharmacy_id)


def all_pharmacies(deps: Deps, ctx: Context) -> list[Pharmacy]:
    # A scan of one event type; a pharmacy-directory projection replaces it when partners number many.
    ids = [decode_notification(n) for n in deps.store.iter_notifications(topics=["PharmacyRegistered"])]
    return [get_pharmacy(deps, ctx, str(r.originator_id)) for r in ids
            if r.meta.organization_id == ctx.organization_id]


# -- the clinic user's cart -----------------------------------------------------------------------

def clinic_of(deps: Deps, ctx: Context, user_id: str) -> Clinic:
    user = _get(deps, ctx, "clinic_user", user_id)
    assert isinstance(user, ClinicUser)
    return get_clinic(deps, ctx, user.clinic_id)


def _product(deps: Deps, ctx: Context, product_id: str) -> Product:
    state = _get(deps, ctx, "product", product_id)
    assert isinstance(state, Product)
    return state


def _cart(deps: Deps, ctx: Context, clinic: Clinic, cart_id: str) -> Loaded:
    loaded = load_owned(deps.store, ctx, "cart", cart_id)
    if loaded.state.clinic_id != clinic.id:
        raise NotFound("No such cart.")
    return loaded


def _world(deps: Deps, ctx: Context, clinic: Clinic, lines: Iterable[LineDraft]) -> CartWorld:
    """Load each thing the lines name once; what the clinic may not use is simply left out."""
    lines = list(lines)

    def owned(aggregate_type: str, ids: set[str]) -> dict[str, object]:
        found = (try_load(deps.store, aggregate_type, i) for i in sorted(ids))
        return {str(f.id): f.state for f in found
                if f is not None and f.organization_id == ctx.organization_id}

    patients = owned("patient", {ln.patient_id for ln in lines} & clinic.patient_ids)
    prescribers = owned("prescriber", {ln.prescriber_id for ln in lines})
    return CartWorld(
        patient_states={k: v.state for k, v in patients.items() if isinstance(v, Patient)},
        prescribers={k: v for k, v in prescribers.items()
                     if isinstance(v, Prescriber) and v.clinic_id == clinic.id},
        products={k: v for k, v in owned("product", {ln.product_id for ln in lines}).items()
                  if isinstance(v, Product)},
        pharmacies={k: v for k, v in owned("pharmacy", {ln.pharmacy_id for ln in lines}).items()
                    if isinstance(v, Pharmacy)},
    )


def _drafts(cart: Cart) -> list[LineDraft]:
    return [LineDraft(ln.patient_id, ln.product_id, ln.quantity, ln.pharmacy_id, ln.sig, ln.prescriber_id)
            for ln in cart.lines.values()]


def cart_world(deps: Deps, ctx: Context, clinic: Clinic, cart: Cart) -> CartWorld:
    return _world(deps, ctx, clinic, _drafts(cart))


def _view(deps: Deps, ctx: Context, clinic: Clinic, cart: Cart) -> CartView:
    world = _world(deps, ctx, clinic, _drafts(cart))
    prices = price_cart(cart, world)
    currencies = {p.currency for p in world.pharmacies.values()}
    return CartView(cart, prices, cart_total(prices), currencies.pop() if len(currencies) == 1 else "usd")


def open_cart(deps: Deps, ctx: Context, user_id: str) -> CartView:
    clinic = clinic_of(deps, ctx, user_id)
    cart_id = deps.new_uuid()
    _start(deps, ctx, cart_id, CartOpened(clinic_id=clinic.id))
    return get_cart(deps, ctx, user_id, str(cart_id))


def get_cart(deps: Deps, ctx: Context, user_id: str, cart_id: str) -> CartView:
    clinic = clinic_of(deps, ctx, user_id)
    return _view(deps, ctx, clinic, _cart(deps, ctx, clinic, cart_id).state)


def _check_draft(draft: LineDraft, clinic: Clinic, world: CartWorld) -> None:
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
        raise InvalidCommand(f"{pharmacy.name} does not compound this product.", field="pharmacy_id",
                             reasons=("PRODUCT_NOT_AT_PHARMACY",))


def add_lines(deps: Deps, ctx: Context, user_id: str, cart_id: str, drafts: list[LineDraft]) -> list[str]:
    """Add lines in one commit, merging by patient and product; returns each draft's line id."""
    clinic = clinic_of(deps, ctx, user_id)
    world = _world(deps, ctx, clinic, drafts)
    for draft in drafts:
        _check_draft(draft, clinic, world)

    def attempt() -> list[str]:
        loaded = _cart(deps, ctx, clinic, cart_id)
        cart: Cart = loaded.state
        facts: list[Fact] = []
        for draft in drafts:
            fact = decide_add(cart, draft, deps.new_id())
            cart = evolve_cart(cart, fact, cart.id)  # later drafts merge into earlier ones
            facts.append(fact)
        batch = deps.batch(ctx)
        batch.extend(loaded, *facts)
        deps.commit(batch)
        return [f.line_id for f in facts]  # type: ignore[attr-defined]

    return retry_on_conflict(attempt)


def change_line(deps: Deps, ctx: Context, user_id: str, cart_id: str, line_id: str, *,
                quantity: int | None = None, pharmacy_id: str | None = None, sig: str | None = None,
                prescriber_id: str | None = None) -> CartView:
    clinic = clinic_of(deps, ctx, user_id)

    def attempt() -> Cart:
        loaded = _cart(deps, ctx, clinic, cart_id)
        facts = decide_change(loaded.state, line_id, quantity=quantity, pharmacy_id=pharmacy_id, sig=sig,
                              prescriber_id=prescriber_id)
        if facts:
            changed = loaded.state.lines[line_id]
            draft = LineDraft(changed.patient_id, changed.product_id, 1, pharmacy_id or changed.pharmacy_id,
                              "", prescriber_id or changed.prescriber_id)
            _check_draft(draft, clinic, _world(deps, ctx, clinic, [draft]))
        batch = deps.batch(ctx)
        batch.extend(loaded, *facts)
        deps.commit(batch)
        return _cart(deps, ctx, clinic, cart_id).state  # type: ignore[no-any-return]

    return _view(deps, ctx, clinic, retry_on_conflict(attempt))


def remove_line(deps: Deps, ctx: Context, user_id: str, cart_id: str, line_id: str) -> CartView:
    clinic = clinic_of(deps, ctx, user_id)

    def attempt() -> Cart:
        loaded = _cart(deps, ctx, clinic, cart_id)
        batch = deps.batch(ctx)
        batch.extend(loaded, decide_remove(loaded.state, line_id))
        deps.commit(batch)
        return _cart(deps, ctx, clinic, cart_id).state  # type: ignore[no-any-return]

    return _view(deps, ctx, clinic, retry_on_conflict(attempt))


def validate(deps: Deps, ctx: Context, user_id: str, cart_id: str) -> CartValidated:
    """Validate the whole cart and record the outcome, so the audit shows what was known before paying."""
    clinic = clinic_of(deps, ctx, user_id)

    def attempt() -> CartValidated:
        loaded = _cart(deps, ctx, clinic, cart_id)
        cart: Cart = loaded.state
        world = _world(deps, ctx, clinic, _drafts(cart))
        problems = validate_cart(cart, world)
        outcome = CartValidated(ok=not problems, problems=problems, line_count=len(cart.lines),
                                total_cents=cart_total(price_cart(cart, world)))
        if cart.checked_out is None:
            batch = deps.batch(ctx)
            batch.extend(loaded, outcome)
            deps.commit(batch)
        return outcome

    return retry_on_conflict(attempt)


def validate_only(deps: Deps, ctx: Context, user_id: str, cart_id: str) -> tuple[LineProblem, ...]:
    """The same check without recording it (for the benchmark and for views)."""
    clinic = clinic_of(deps, ctx, user_id)
    cart: Cart = _cart(deps, ctx, clinic, cart_id).state
    return validate_cart(cart, _world(deps, ctx, clinic, _drafts(cart)))


# -- one checkout ---------------------------------------------------------------------------------

def _clinic_method(deps: Deps, ctx: Context, clinic: Clinic, payment_method_id: str) -> SavedPaymentMethod:
    method = clinic.method(payment_method_id)
    if method is None:
        raise NotFound("No such payment method.")
    if method.gateway != deps.organization(ctx.organization_id).active_gateway:
        raise InvalidCommand("The payment method is not of the organization's active gateway.",
                             field="payment_method_id", reasons=("PAYMENT_METHOD_NOT_USABLE",))
    return method


def checkout(deps: Deps, ctx: Context, user_id: str, cart_id: str, payment_method_id: str,
             idempotency_key: str | None) -> CheckoutResult:
    """Validate, place one order per line and one invoice in a single commit, then charge once.

    A declined charge leaves the orders and the invoice in place; checking the same cart out
    again retries the payment on that invoice and never places the orders twice. A reused key
    returns what the first request did.
    """
    clinic = clinic_of(deps, ctx, user_id)
    keyed = KeyedRequest.of(f"clinic-checkout/clinic/{clinic.id}", idempotency_key,
                            {"cart_id": cart_id, "payment_method_id": payment_method_id})
    method = _clinic_method(deps, ctx, clinic, payment_method_id)

    def place() -> tuple[str, int | None, bool]:  # invoice id, attempt to report, whether to charge
        previous = claimed_resource(deps, keyed)
        if previous is not None:
            claimed_invoice, claimed_attempt = previous.rsplit("#", 1)
            return claimed_invoice, int(claimed_attempt) or None, False
        loaded = _cart(deps, ctx, clinic, cart_id)
        cart: Cart = loaded.state
        batch = deps.batch(ctx)
        if cart.checked_out is not None:
            invoice: Invoice = load_owned(deps.store, ctx, "invoice", cart.checked_out.invoice_id).state
            # Already placed: an open invoice is charged again, a paid one is simply reported.
            number = len(invoice.attempts) + (1 if invoice.status == "OPEN" else 0)
            claim(batch, keyed, "payment_attempt", f"{invoice.id}#{number}")
            deps.commit(batch)
            return invoice.id, number or None, invoice.status == "OPEN"
        ids = [deps.new_id() for _ in cart.lines]
        invoice_id = deps.new_id()
        plan = plan_checkout(cart, _world(deps, ctx, clinic, _drafts(cart)),
                             CheckoutIds(invoice_id, tuple(ids), tuple(deps.order_number(i) for i in ids)),
                             batch.now)
        for order in plan.orders:
            batch.start(UUID(order.order_id), order.placed, order.rx)
        batch.start(UUID(invoice_id), plan.invoice)
        batch.extend(loaded, plan.checked_out)
        claim(batch, keyed, "payment_attempt", f"{invoice_id}#1")
        deps.commit(batch)
        return invoice_id, 1, True

    invoice_id, number, must_charge = retry_on_conflict(place)
    if must_charge:
        number = charge_invoice(deps, ctx, invoice_id, method).attempt.number
    return _checkout_result(deps, ctx, clinic, cart_id, invoice_id, number, created=must_charge)


def _checkout_result(deps: Deps, ctx: Context, clinic: Clinic, cart_id: str, invoice_id: str,
                     number: int | None, *, created: bool) -> CheckoutResult:
    cart: Cart = _cart(deps, ctx, clinic, cart_id).state
    invoice: Invoice = load_owned(deps.store, ctx, "invoice", invoice_id).state
    orders = [load_owned(deps.store, ctx, "order", oid).state for oid in invoice.issued.order_ids]
    attempt = next((a for a in invoice.attempts if a.number == number), None)
    return CheckoutResult(cart, orders, invoice, attempt, created)


# -- quickfills, reorder, pharmacy choice ---------------------------------------------------------

def save_quickfill(deps: Deps, ctx: Context, user_id: str, *, name: str, product_id: str, quantity: int,
                   pharmacy_id: str, sig: str, prescriber_id: str) -> Quickfill:
    clinic = clinic_of(deps, ctx, user_id)
    if quantity < 1:
        raise InvalidCommand("Quantity must be at least 1.", field="quantity")
    template = LineDraft("", product_id, quantity, pharmacy_id, sig, prescriber_id)
    world = _world(deps, ctx, clinic, [template])
    _check_draft(template, clinic, replace(world, patient_states={"": "-"}))  # no patient on a template
    qid = deps.new_uuid()
    _start(deps, ctx, qid, QuickfillSaved(clinic_id=clinic.id, name=name, product_id=product_id,
                                          quantity=quantity, pharmacy_id=pharmacy_id, sig=sig,
                                          prescriber_id=prescriber_id))
    return _quickfill(deps, ctx, clinic, str(qid))


def _quickfill(deps: Deps, ctx: Context, clinic: Clinic, quickfill_id: str) -> Quickfill:
    state = _get(deps, ctx, "quickfill", quickfill_id)
    assert isinstance(state, Quickfill)
    if state.clinic_id != clinic.id:
        raise NotFound("No such quickfill.")
    return state


def apply_quickfill(deps: Deps, ctx: Context, user_id: str, cart_id: str, quickfill_id: str,
                    patient_ids: list[str]) -> CartView:
    """One template, many patients: each becomes its own line (or merges into that patient's line)."""
    if not patient_ids:
        raise InvalidCommand("Name at least one patient.", field="patient_ids")
    template = _quickfill(deps, ctx, clinic_of(deps, ctx, user_id), quickfill_id)
    add_lines(deps, ctx, user_id, cart_id, [template.draft_for(p) for p in dict.fromkeys(patient_ids)])
    return get_cart(deps, ctx, user_id, cart_id)


def reorder(deps: Deps, ctx: Context, user_id: str, cart_id: str, order_id: str) -> CartView:
    """Put a past clinic order's lines back into a cart, with their pharmacy, SIG and prescriber."""
    clinic = clinic_of(deps, ctx, user_id)
    order: Order = load_owned(deps.store, ctx, "order", order_id).state
    if order.placed.clinic_id != clinic.id:
        raise NotFound("No such order.")
    drafts = [LineDraft(order.patient_id, ln.product_id, ln.quantity, ln.pharmacy_id, ln.sig or "",
                        ln.prescriber_id, origin=f"reorder:{order_id}")
              for ln in order.placed.lines if ln.pharmacy_id and ln.prescriber_id]
    add_lines(deps, ctx, user_id, cart_id, drafts)
    return get_cart(deps, ctx, user_id, cart_id)


def pharmacy_options(deps: Deps, ctx: Context, user_id: str, product_id: str, patient_id: str | None,
                     by: RankBy, quantity: int = 1) -> list[PharmacyOption]:
    clinic = clinic_of(deps, ctx, user_id)
    _product(deps, ctx, product_id)
    state = None
    if patient_id is not None:
        if patient_id not in clinic.patient_ids:
            raise NotFound("No such patient.")
        state = get_patient(deps, ctx, patient_id).state
    return rank_options(all_pharmacies(deps, ctx), product_id, state, max(quantity, 1), by)
