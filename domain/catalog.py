"""Products: the current price, the active flag, and the mappings that route an order onward."""

from __future__ import annotations

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
    price_cents: int | None = None,
    active: bool | None = None,
    medical_review: MedicalReviewMapping | object | None = _UNSET,
    pharmacy: PharmacyMapping | object | None = _UNSET,
    requires_intake: bool | None = None,
    lab: LabRequirement | object | None = _UNSET,
) -> list[Fact]:
    """Decide the facts for a catalog edit: only what actually changes is recorded."""
    facts: list[Fact] = []
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
