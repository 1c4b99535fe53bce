"""Catalog, organizations, patients and their saved cards."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from adapters.eventstore import decode_notification, stable_id
from adapters.payments.port import InvalidPaymentToken
from domain import catalog
from domain.catalog import (
    LabRequirement,
    MedicalReviewMapping,
    PharmacyMapping,
    Product,
    ProductKind,
    SkuClaim,
    SkuTaken,
)
from domain.errors import Conflict, InvalidCommand
from domain.parties import (
    ActiveGatewayChanged,
    Organization,
    OrganizationConfigured,
    Patient,
    PatientRegistered,
    PaymentMethodSaved,
)
from service.deps import Deps, organization_aggregate_id, retry_on_conflict
from service.unit import Batch, Context, load_owned, try_load


def configure_organization(deps: Deps, ctx: Context, name: str, active_gateway: str) -> Organization:
    """Create the organization, or switch its active gateway; re-running it changes nothing."""
    deps.gateway(active_gateway)
    agg_id = organization_aggregate_id(ctx.organization_id)
    existing = try_load(deps.store, Organization, agg_id)
    batch = deps.batch(ctx)
    if existing is None:
        batch.start(
            agg_id,
            OrganizationConfigured(
                organization_id=ctx.organization_id, name=name, active_gateway=active_gateway
            ),
        )
    elif existing.state.active_gateway != active_gateway:
        batch.extend(
            existing,
            ActiveGatewayChanged(
                active_gateway=active_gateway, previous_gateway=existing.state.active_gateway
            ),
        )
    deps.commit(batch)
    return deps.organization(ctx.organization_id)


def add_product(
    deps: Deps,
    ctx: Context,
    *,
    sku: str,
    name: str,
    price_cents: int,
    currency: str,
    active: bool,
    kind: ProductKind,
    requires_intake: bool,
    medical_review: MedicalReviewMapping | None,
    pharmacy: PharmacyMapping | None,
    lab: LabRequirement | None = None,
    product_id: str | None = None,
) -> Product:
    """Add a product; its SKU is claimed in the same batch, so a taken SKU (Conflict `SKU_TAKEN`)
    adds nothing, and of two racing adds of one SKU the store lets exactly one commit."""
    pid = UUID(product_id) if product_id else deps.new_uuid()

    def attempt() -> Product:
        batch = deps.batch(ctx)
        batch.start(
            pid,
            catalog.ProductAdded(
                sku=sku,
                name=name,
                price_cents=price_cents,
                currency=currency,
                active=active,
                kind=kind,
                requires_intake=requires_intake,
                medical_review=medical_review,
                pharmacy=pharmacy,
                lab=lab,
            ),
        )
        _claim_sku(deps, ctx, batch, str(pid), sku)
        deps.commit(batch)
        return batch.state(Product, pid)

    return retry_on_conflict(attempt)


def sku_claim_id(organization_id: str, sku: str) -> UUID:
    """The stream that holds one SKU of one organization (other organizations may use the same SKU)."""
    return stable_id("sku", organization_id, catalog.sku_key(sku))


def _claim_sku(deps: Deps, ctx: Context, batch: Batch, product_id: str, sku: str) -> None:
    """Add the facts that give `sku` to the product to `batch`, appended after the version of the
    claim read here: a claim written meanwhile fails the whole batch, and the retry reads it."""
    claim_id = sku_claim_id(ctx.organization_id, sku)
    loaded = try_load(deps.store, SkuClaim, claim_id)
    decided = catalog.claim_sku(loaded.state if loaded else None, product_id=product_id, sku=sku)
    if loaded is None:  # never claimed: a product from before claims may hold it all the same
        decided = (
            catalog.held_before_claims(_current_skus(deps, ctx), product_id=product_id, sku=sku) or decided
        )
    if isinstance(decided, SkuTaken):
        raise Conflict(reasons=("SKU_TAKEN",), facts={"sku": decided.sku}, field="sku")
    if loaded is None:
        batch.start(claim_id, *decided)
    elif decided:
        batch.extend(loaded, *decided)


def _current_skus(deps: Deps, ctx: Context) -> dict[str, str]:
    """Each product's SKU as its own facts last gave it, this organization's only. Read from the
    log's product topics (a catalog is small), and only when a SKU was never claimed."""
    skus: dict[str, str] = {}
    for n in deps.store.iter_notifications(topics=("ProductAdded", "ProductSkuChanged")):
        recorded = decode_notification(n)
        fact = recorded.fact
        if recorded.meta.organization_id == ctx.organization_id and isinstance(
            fact, catalog.ProductAdded | catalog.ProductSkuChanged
        ):
            skus[str(recorded.originator_id)] = fact.sku
    return skus


def _release_sku(deps: Deps, ctx: Context, batch: Batch, product_id: str, sku: str) -> None:
    loaded = try_load(deps.store, SkuClaim, sku_claim_id(ctx.organization_id, sku))
    released = catalog.release_sku(loaded.state if loaded else None, product_id=product_id)
    if loaded is not None and released:
        batch.extend(loaded, *released)


MAPPINGS: dict[str, type[MedicalReviewMapping | PharmacyMapping | LabRequirement]] = {
    "medical_review": MedicalReviewMapping,
    "pharmacy": PharmacyMapping,
    "lab": LabRequirement,
}


def change_product(deps: Deps, ctx: Context, product_id: str, changes: dict[str, Any]) -> Product:
    """Apply a catalog edit; nested mappings arrive as merge patches (dicts, or None to remove)."""

    def attempt() -> Product:
        loaded = load_owned(deps.store, ctx, Product, product_id)
        merged = {
            name: catalog.merge_mapping(MAPPINGS[name], getattr(loaded.state, name), patch)
            if name in MAPPINGS
            else patch
            for name, patch in changes.items()
        }
        facts = catalog.change_product(loaded.state, **merged)
        batch = deps.batch(ctx)
        batch.extend(loaded, *facts)
        new_sku = changes.get("sku")
        if new_sku is not None and new_sku != loaded.state.sku:
            # The old claim is released and the new one taken in the product's own batch: a SKU
            # is never held by two products, nor lost when the change does not commit.
            if catalog.sku_key(new_sku) != catalog.sku_key(loaded.state.sku):
                _release_sku(deps, ctx, batch, product_id, loaded.state.sku)
            _claim_sku(deps, ctx, batch, product_id, new_sku)
        deps.commit(batch)
        return batch.state(Product, product_id) if facts else loaded.state

    return retry_on_conflict(attempt)


def get_product(deps: Deps, ctx: Context, product_id: str) -> Product:
    state = load_owned(deps.store, ctx, Product, product_id).state
    return state


def register_patient(
    deps: Deps, ctx: Context, *, name: str, email: str, state: str, patient_id: str | None = None
) -> Patient:
    pid = UUID(patient_id) if patient_id else deps.new_uuid()
    batch = deps.batch(ctx)
    batch.start(pid, PatientRegistered(name=name, email=email, state=state))
    deps.commit(batch)
    return get_patient(deps, ctx, str(pid))


def get_patient(deps: Deps, ctx: Context, patient_id: str) -> Patient:
    state = load_owned(deps.store, ctx, Patient, patient_id).state
    return state


def save_payment_method(
    deps: Deps, ctx: Context, patient_id: str, *, gateway: str, token: str, label: str | None
) -> tuple[Patient, str]:
    """Store a card at the gateway first, then record it; a refused token records nothing."""
    processor = deps.gateway(gateway)
    patient = get_patient(deps, ctx, patient_id)
    try:
        card = processor.save_card(
            customer_ref=patient.customer_ref(gateway), token=token, reference=patient_id
        )
    except InvalidPaymentToken as exc:
        raise InvalidCommand(f"The gateway refused the payment token: {exc}", field="token") from exc
    method_id = deps.new_id()

    def attempt() -> Patient:
        loaded = load_owned(deps.store, ctx, Patient, patient_id)
        batch = deps.batch(ctx)
        batch.extend(
            loaded,
            PaymentMethodSaved(
                payment_method_id=method_id,
                gateway=gateway,
                customer_ref=card.customer_ref,
                payment_method_ref=card.payment_method_ref,
                label=label,
                brand=card.brand,
                last4=card.last4,
            ),
        )
        deps.commit(batch)
        return get_patient(deps, ctx, patient_id)

    return retry_on_conflict(attempt), method_id
