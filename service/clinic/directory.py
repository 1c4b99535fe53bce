"""Clinic directory set-up (staff / service): clinics, their users, roster, cards, prescribers, pharmacies.

Also the small load/append helpers the other clinic service modules share, and `clinic_of`, which
every clinic-user command starts from: the token names the user, the user names the clinic.
"""

from __future__ import annotations

from uuid import UUID

from adapters.eventstore import decode_notification
from adapters.payments.port import InvalidPaymentToken
from domain.catalog import Product
from domain.clinic import directory, pharmacies
from domain.clinic.directory import Clinic, ClinicUser, Prescriber
from domain.clinic.pharmacies import Pharmacy
from domain.errors import InvalidCommand
from domain.events import Fact
from service.catalog import get_patient
from service.deps import Deps, retry_on_conflict
from service.unit import Context, load_owned


def _new(deps: Deps, given: str | None) -> UUID:
    return UUID(given) if given else deps.new_uuid()


def start_stream(deps: Deps, ctx: Context, aggregate_id: UUID, *facts: Fact) -> None:
    """Commit the first facts of a new aggregate."""
    batch = deps.batch(ctx)
    batch.start(aggregate_id, *facts)
    deps.commit(batch)


def append_to(
    deps: Deps, ctx: Context, kind: type[Clinic | Pharmacy], aggregate_id: str, *facts: Fact
) -> None:
    """Append to an existing aggregate of this organization, retrying a concurrent write."""

    def attempt() -> None:
        loaded = load_owned(deps.store, ctx, kind, aggregate_id)
        batch = deps.batch(ctx)
        batch.extend(loaded, *facts)
        deps.commit(batch)

    retry_on_conflict(attempt)


def get_product(deps: Deps, ctx: Context, product_id: str) -> Product:
    state = load_owned(deps.store, ctx, Product, product_id).state
    return state


def register_clinic(deps: Deps, ctx: Context, name: str, *, clinic_id: str | None = None) -> Clinic:
    cid = _new(deps, clinic_id)
    start_stream(deps, ctx, cid, directory.ClinicRegistered(name=name))
    return get_clinic(deps, ctx, str(cid))


def get_clinic(deps: Deps, ctx: Context, clinic_id: str) -> Clinic:
    state = load_owned(deps.store, ctx, Clinic, clinic_id).state
    return state


def clinic_of(deps: Deps, ctx: Context, user_id: str) -> Clinic:
    user = load_owned(deps.store, ctx, ClinicUser, user_id).state
    return get_clinic(deps, ctx, user.clinic_id)


def register_clinic_user(
    deps: Deps, ctx: Context, clinic_id: str, name: str, email: str, *, user_id: str | None = None
) -> ClinicUser:
    get_clinic(deps, ctx, clinic_id)
    uid = _new(deps, user_id)
    start_stream(deps, ctx, uid, directory.ClinicUserRegistered(clinic_id=clinic_id, name=name, email=email))
    state = load_owned(deps.store, ctx, ClinicUser, str(uid)).state
    return state


def enroll_patient(deps: Deps, ctx: Context, clinic_id: str, patient_id: str) -> Clinic:
    get_patient(deps, ctx, patient_id)
    if patient_id not in get_clinic(deps, ctx, clinic_id).patient_ids:
        append_to(deps, ctx, Clinic, clinic_id, directory.ClinicPatientEnrolled(patient_id=patient_id))
    return get_clinic(deps, ctx, clinic_id)


def save_clinic_payment_method(
    deps: Deps, ctx: Context, clinic_id: str, *, gateway: str, token: str, label: str | None = None
) -> tuple[Clinic, str]:
    """Store the clinic's card at the gateway first, then record it; a refused token records nothing."""
    clinic = get_clinic(deps, ctx, clinic_id)
    try:
        card = deps.gateway(gateway).save_card(
            customer_ref=clinic.customer_ref(gateway), token=token, reference=f"clinic-{clinic_id}"
        )
    except InvalidPaymentToken as exc:
        raise InvalidCommand(f"The gateway refused the payment token: {exc}", field="token") from exc
    method_id = deps.new_id()
    append_to(
        deps,
        ctx,
        Clinic,
        clinic_id,
        directory.ClinicPaymentMethodSaved(
            payment_method_id=method_id,
            gateway=gateway,
            customer_ref=card.customer_ref,
            payment_method_ref=card.payment_method_ref,
            label=label,
            brand=card.brand,
            last4=card.last4,
        ),
    )
    return get_clinic(deps, ctx, clinic_id), method_id


def register_prescriber(
    deps: Deps,
    ctx: Context,
    clinic_id: str,
    name: str,
    npi: str,
    licensed_states: list[str],
    *,
    dea_number: str | None = None,
    prescriber_id: str | None = None,
) -> Prescriber:
    get_clinic(deps, ctx, clinic_id)
    pid = _new(deps, prescriber_id)
    registered = directory.register_prescriber(clinic_id, name, npi, licensed_states, dea_number)
    start_stream(deps, ctx, pid, registered)
    return get_prescriber(deps, ctx, str(pid))


def get_prescriber(deps: Deps, ctx: Context, prescriber_id: str) -> Prescriber:
    state = load_owned(deps.store, ctx, Prescriber, prescriber_id).state
    return state


def register_pharmacy(
    deps: Deps,
    ctx: Context,
    name: str,
    partner: str,
    licensed_states: list[str],
    shipping_cents: int,
    currency: str = "usd",
    *,
    pharmacy_id: str | None = None,
) -> Pharmacy:
    if shipping_cents < 0:
        raise InvalidCommand("Shipping cannot be negative.", field="shipping_cents")
    pid = _new(deps, pharmacy_id)
    start_stream(
        deps,
        ctx,
        pid,
        pharmacies.PharmacyRegistered(
            name=name,
            partner=partner,
            licensed_states=directory.states(licensed_states, "licensed_states"),
            shipping_cents=shipping_cents,
            currency=currency,
        ),
    )
    return get_pharmacy(deps, ctx, str(pid))


def get_pharmacy(deps: Deps, ctx: Context, pharmacy_id: str) -> Pharmacy:
    state = load_owned(deps.store, ctx, Pharmacy, pharmacy_id).state
    return state


def set_offering(
    deps: Deps,
    ctx: Context,
    pharmacy_id: str,
    product_id: str,
    *,
    strength: str,
    vial_price_cents: int,
    fee_cents: int,
    turnaround_days: int,
    active: bool = True,
    on_hand: int | None = None,
    product_code: str | None = None,
    controlled: bool = False,
) -> Pharmacy:
    get_product(deps, ctx, product_id)
    if min(vial_price_cents, fee_cents, turnaround_days) < 0:
        raise InvalidCommand("Prices, fees and turnaround cannot be negative.", field="vial_price_cents")
    facts: list[Fact] = [
        pharmacies.PharmacyOfferingSet(
            product_id=product_id,
            strength=strength,
            vial_price_cents=vial_price_cents,
            fee_cents=fee_cents,
            turnaround_days=turnaround_days,
            active=active,
            product_code=product_code,
            controlled=controlled,
        )
    ]
    if on_hand is not None:
        facts.append(pharmacies.PharmacyStockReported(product_id=product_id, on_hand=on_hand))
    append_to(deps, ctx, Pharmacy, pharmacy_id, *facts)
    return get_pharmacy(deps, ctx, pharmacy_id)


def report_stock(deps: Deps, ctx: Context, pharmacy_id: str, product_id: str, on_hand: int) -> Pharmacy:
    if on_hand < 0:
        raise InvalidCommand("Stock cannot be negative.", field="on_hand")
    append_to(
        deps,
        ctx,
        Pharmacy,
        pharmacy_id,
        pharmacies.PharmacyStockReported(product_id=product_id, on_hand=on_hand),
    )
    return get_pharmacy(deps, ctx, pharmacy_id)


def all_pharmacies(deps: Deps, ctx: Context) -> list[Pharmacy]:
    # A scan of one event type; a pharmacy-directory projection replaces it when partners number many.
    ids = [decode_notification(n) for n in deps.store.iter_notifications(topics=["PharmacyRegistered"])]
    return [
        get_pharmacy(deps, ctx, str(r.originator_id))
        for r in ids
        if r.meta.organization_id == ctx.organization_id
    ]
