"""Products: the current price, the active flag, and the mappings that route an order onward.

A SKU names one product of an organization. Uniqueness is enforced by the event store, not by a
read before the write: each (organization, SKU key) is a stream of its own (`SkuClaimed`,
`SkuReleased`) written in the same batch as the product, so two writers claiming the same SKU append
the same version of that stream and the store lets only one of them commit.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from domain.events import Fact

ProductKind = Literal["medication", "lab", "non_rx"]
LabStep = Literal["requisition", "results"]


class MedicalReviewMapping(BaseModel):
    """How a product reaches Beluga: the visit type and Beluga's drug id (`medId`)."""

    model_config = ConfigDict(frozen=True)
    visit_type: str | None = None
    med_id: str | None = None


class PharmacyMapping(BaseModel):
    """Which partner pharmacy compounds the product, under which of its product codes."""

    model_config = ConfigDict(frozen=True)
    partner: str | None = None
    product_code: str | None = None


class LabRequirement(BaseModel):
    model_config = ConfigDict(frozen=True)
    steps: tuple[LabStep, ...] = ("requisition", "results")
    method: str | None = None  # e.g. "at_home_kit"; Beluga needs it when a lab is required


class ProductFact(Fact):
    AGGREGATE = "product"


class ProductAdded(ProductFact):
    TYPE = "ProductAdded"
    sku: str
    name: str
    price_cents: int
    currency: str
    active: bool
    kind: ProductKind
    requires_intake: bool
    lab: LabRequirement | None = None
    medical_review: MedicalReviewMapping | None = None
    pharmacy: PharmacyMapping | None = None


class ProductRepriced(ProductFact):
    TYPE = "ProductRepriced"
    price_cents: int
    previous_price_cents: int


class ProductDeactivated(ProductFact):
    TYPE = "ProductDeactivated"


class ProductReactivated(ProductFact):
    TYPE = "ProductReactivated"


class ProductSkuChanged(ProductFact):
    TYPE = "ProductSkuChanged"
    sku: str
    previous_sku: str


class ProductMappingsChanged(ProductFact):
    TYPE = "ProductMappingsChanged"
    medical_review: MedicalReviewMapping | None
    pharmacy: PharmacyMapping | None
    requires_intake: bool
    lab: LabRequirement | None = None


@dataclass(frozen=True)
class Product:
    id: str
    sku: str
    name: str
    price_cents: int
    currency: str
    active: bool
    kind: ProductKind
    requires_intake: bool
    lab: LabRequirement | None
    medical_review: MedicalReviewMapping | None
    pharmacy: PharmacyMapping | None


def evolve_product(state: Product | None, fact: Fact, aggregate_id: str) -> Product:
    if isinstance(fact, ProductAdded):
        return Product(
            id=aggregate_id,
            sku=fact.sku,
            name=fact.name,
            price_cents=fact.price_cents,
            currency=fact.currency,
            active=fact.active,
            kind=fact.kind,
            requires_intake=fact.requires_intake,
            lab=fact.lab,
            medical_review=fact.medical_review,
            pharmacy=fact.pharmacy,
        )
    assert state is not None, f"{fact.TYPE} before ProductAdded"
    if isinstance(fact, ProductRepriced):
        return replace(state, price_cents=fact.price_cents)
    if isinstance(fact, ProductSkuChanged):
        return replace(state, sku=fact.sku)
    if isinstance(fact, ProductDeactivated):
        return replace(state, active=False)
    if isinstance(fact, ProductReactivated):
        return replace(state, active=True)
    if isinstance(fact, ProductMappingsChanged):
        return replace(
            state,
            medical_review=fact.medical_review,
            pharmacy=fact.pharmacy,
            requires_intake=fact.requires_intake,
            lab=fact.lab,
        )
    return state


_UNSET = object()


MappingT = TypeVar("MappingT", MedicalReviewMapping, PharmacyMapping, LabRequirement)


def merge_mapping(
    kind: type[MappingT], current: MappingT | None, patch: Mapping[str, Any] | None
) -> MappingT | None:
    """JSON merge patch (RFC 7396) of one nested mapping.

    `None` removes the mapping; otherwise the keys given replace the current ones (an explicit
    null clears that key) and every key not given is kept — setting `med_id` never drops the
    `visit_type` beside it. A mapping left with nothing in it is no mapping.
    """
    if patch is None:
        return None
    merged = {**(current.model_dump() if current is not None else {}), **patch}
    if "steps" in merged and merged["steps"] is not None:
        merged["steps"] = tuple(merged["steps"])
    merged = {k: v for k, v in merged.items() if v is not None}
    if kind is not LabRequirement and not merged:
        return None
    return kind(**merged)


def change_product(
    product: Product,
    *,
    sku: str | None = None,
    price_cents: int | None = None,
    active: bool | None = None,
    medical_review: MedicalReviewMapping | object | None = _UNSET,
    pharmacy: PharmacyMapping | object | None = _UNSET,
    requires_intake: bool | None = None,
    lab: LabRequirement | object | None = _UNSET,
) -> list[Fact]:
    """Decide the facts for a catalog edit: only what actually changes is recorded."""
    facts: list[Fact] = []
    if sku is not None and sku != product.sku:
        facts.append(ProductSkuChanged(sku=sku, previous_sku=product.sku))
    if price_cents is not None and price_cents != product.price_cents:
        facts.append(ProductRepriced(price_cents=price_cents, previous_price_cents=product.price_cents))
    if active is not None and active != product.active:
        facts.append(ProductReactivated() if active else ProductDeactivated())
    new_review = product.medical_review if medical_review is _UNSET else medical_review
    new_pharmacy = product.pharmacy if pharmacy is _UNSET else pharmacy
    new_lab = product.lab if lab is _UNSET else lab
    new_intake = product.requires_intake if requires_intake is None else requires_intake
    if (new_review, new_pharmacy, new_intake, new_lab) != (
        product.medical_review,
        product.pharmacy,
        product.requires_intake,
        product.lab,
    ):
        facts.append(
            ProductMappingsChanged(
                medical_review=new_review,
                pharmacy=new_pharmacy,
                requires_intake=new_intake,
                lab=new_lab,
            )
        )
    return facts


# -- SKU uniqueness per organization ---------------------------------------------------------------


def sku_key(sku: str) -> str:
    """The form in which two SKUs are compared: `sema-2.5`, ` SEMA-2.5 ` and its full-width
    spelling are one SKU.

    Unicode compatibility form (NFKC), case-folded, surrounding whitespace dropped and each inner
    run of whitespace read as one space. People type SKUs by hand, in several tools; two that differ
    only in case or spacing would be told apart by no one reading an order or a pharmacy request.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", sku).casefold())
    return " ".join(folded.split())


class SkuFact(Fact):
    AGGREGATE = "sku_claim"
    # The ledger's own bookkeeping (which product holds a SKU), as an idempotency key claimed is.
    BOOKKEEPING = True


class SkuClaimed(SkuFact):
    TYPE = "SkuClaimed"
    sku: str  # as the product spells it
    product_id: str


class SkuReleased(SkuFact):
    TYPE = "SkuReleased"
    product_id: str


@dataclass(frozen=True)
class SkuClaim:
    """Who holds one SKU key of an organization: a product, or no one since it was released."""

    sku: str
    product_id: str | None


def evolve_sku_claim(state: SkuClaim | None, fact: Fact, aggregate_id: str) -> SkuClaim:
    if isinstance(fact, SkuClaimed):
        return SkuClaim(sku=fact.sku, product_id=fact.product_id)
    assert state is not None, f"{fact.TYPE} before SkuClaimed"
    if isinstance(fact, SkuReleased):
        return replace(state, product_id=None)
    return state


@dataclass(frozen=True)
class SkuTaken:
    """The refusal: another product of the organization holds the SKU."""

    sku: str
    holder_id: str


def claim_sku(claim: SkuClaim | None, *, product_id: str, sku: str) -> list[Fact] | SkuTaken:
    """The facts that give `sku` to the product (none when it holds it already, spelled alike)."""
    if claim is None or claim.product_id is None:
        return [SkuClaimed(sku=sku, product_id=product_id)]
    if claim.product_id != product_id:
        return SkuTaken(sku=claim.sku, holder_id=claim.product_id)
    return [] if claim.sku == sku else [SkuClaimed(sku=sku, product_id=product_id)]


def held_before_claims(skus: Mapping[str, str], *, product_id: str, sku: str) -> SkuTaken | None:
    """A product added before SKUs were claimed holds its SKU without a claim stream: given each
    product's current SKU (`skus`, by product id), the one already holding `sku`, if any."""
    key = sku_key(sku)
    for holder_id, held in skus.items():
        if holder_id != product_id and sku_key(held) == key:
            return SkuTaken(sku=held, holder_id=holder_id)
    return None


def release_sku(claim: SkuClaim | None, *, product_id: str) -> list[Fact]:
    """Give the SKU up, if this product holds it (a product older than claims may hold none)."""
    if claim is None or claim.product_id != product_id:
        return []
    return [SkuReleased(product_id=product_id)]
