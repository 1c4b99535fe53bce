"""Medical review (Beluga): when an order goes to review, under which visit id, and what blocks it.

Pure rules. A blocked submission is a fact listing *every* cause at once (never only the first),
so ops fix them all in one go; each cause has a stable code CS and ops tooling can key on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from domain.catalog import Product
from domain.orders import Order, OrderLine

# Stable blocking codes (DOMAIN.md, "Medical review").
INTAKE_MISSING = "INTAKE_MISSING"
INTAKE_NOT_ACCEPTED = "INTAKE_NOT_ACCEPTED"  # submitted, not yet accepted
INTAKE_NEEDS_CORRECTION = "INTAKE_NEEDS_CORRECTION"
INTAKE_REJECTED = "INTAKE_REJECTED"
VISIT_TYPE_MISSING = "VISIT_TYPE_MISSING"
MED_ID_MISSING = "MED_ID_MISSING"
PHARMACY_CONFIG_MISSING = "PHARMACY_CONFIG_MISSING"
LAB_METHOD_MISSING = "LAB_METHOD_MISSING"

BLOCKING_CODES: tuple[str, ...] = (
    INTAKE_MISSING,
    INTAKE_NOT_ACCEPTED,
    INTAKE_NEEDS_CORRECTION,
    INTAKE_REJECTED,
    VISIT_TYPE_MISSING,
    MED_ID_MISSING,
    PHARMACY_CONFIG_MISSING,
    LAB_METHOD_MISSING,
)

REFILL_TRIGGER = "patient_refill_payment_succeeded"
ORDER_TRIGGER = "order_payment_succeeded"
RETRY_TRIGGER = "ops_retry"
NEW_CONSULT_TRIGGER = "new_consult_after_cancel"

_INTAKE_REASON = {
    "missing": INTAKE_MISSING,
    "submitted": INTAKE_NOT_ACCEPTED,
    "needs_correction": INTAKE_NEEDS_CORRECTION,
    "rejected": INTAKE_REJECTED,
}
_MASTER_PREFIX = "mr-"


def master_id_for(order_id: str, consult_number: int = 1) -> str:
    """One stable Beluga `masterId` per consult of an order: every retry reuses it, so Beluga dedupes.

    A new consult after a cancellation (`NewConsultStarted`) is a new visit at Beluga and so gets a
    new id, `….2`, `….3`; the first keeps the bare form every earlier order was submitted under.
    """
    suffix = "" if consult_number == 1 else f".{consult_number}"
    return f"{_MASTER_PREFIX}{order_id}{suffix}"


def order_id_of_master(master_id: str) -> str | None:
    """The order a `masterId` we issued belongs to (None for one we never issued)."""
    if not master_id.startswith(_MASTER_PREFIX):
        return None
    return master_id[len(_MASTER_PREFIX) :].split(".", 1)[0]


def needs_medical_review(order: Order) -> bool:
    """Medications need a Beluga prescription, except clinic-cart orders, prescribed in-house."""
    return order.is_medication and order.placed.source != "CLINIC_CART"


def trigger_for(order: Order) -> str:
    return REFILL_TRIGGER if order.placed.source_context == "PATIENT_REFILL" else ORDER_TRIGGER


def should_auto_submit(order: Order, status: str) -> bool:
    """A paid order waiting for its script that was never sent (blocked/failed wait for ops)."""
    return (
        needs_medical_review(order)
        and order.paid
        and status == "AWAITING_SCRIPT"
        and order.medical_review_status == "not_submitted"
    )


def medication_lines(order: Order) -> list[OrderLine]:
    return [line for line in order.placed.lines if line.kind == "medication"]


def blocking_reasons(order: Order, products: Mapping[str, Product | None]) -> tuple[str, ...]:
    """Every reason the order cannot be sent to Beluga now, in a stable order; () when it can."""
    found: set[str] = set()
    if order.requires_intake and order.intake_status != "accepted":
        found.add(_INTAKE_REASON[order.intake_status])
    for line in medication_lines(order):
        product = products.get(line.product_id)
        review = product.medical_review if product else None
        if review is None or not review.visit_type:
            found.add(VISIT_TYPE_MISSING)
        if review is None or not review.med_id:
            found.add(MED_ID_MISSING)
        pharmacy = product.pharmacy if product else None
        if pharmacy is None or not pharmacy.partner or not pharmacy.product_code:
            found.add(PHARMACY_CONFIG_MISSING)
    for line in order.placed.lines:
        product = products.get(line.product_id)
        lab = (product.lab if product else None) or line.lab
        if (line.lab is not None or (product is not None and product.lab is not None)) and (
            lab is None or not lab.method
        ):
            found.add(LAB_METHOD_MISSING)
    return tuple(code for code in BLOCKING_CODES if code in found)


@dataclass(frozen=True)
class VisitPlan:
    """What to ask Beluga for, read from the current catalog once nothing blocks."""

    master_id: str
    visit_type: str
    med_ids: tuple[str, ...]
    pharmacy: str
    lab_method: str | None


def plan_visit(order: Order, products: Mapping[str, Product | None]) -> VisitPlan:
    """Call only when `blocking_reasons` is empty."""
    lines = medication_lines(order)
    first = products[lines[0].product_id]
    assert first is not None
    assert first.medical_review is not None
    assert first.pharmacy is not None
    med_ids: list[str] = []
    for line in lines:
        product = products[line.product_id]
        assert product is not None
        assert product.medical_review is not None
        med_ids.append(str(product.medical_review.med_id))
    labs = [
        p.lab.method
        for line in order.placed.lines
        if (p := products.get(line.product_id)) is not None and p.lab is not None and p.lab.method
    ]
    return VisitPlan(
        master_id=order.master_id or master_id_for(order.id),
        visit_type=str(first.medical_review.visit_type),
        med_ids=tuple(dict.fromkeys(med_ids)),
        pharmacy=str(first.pharmacy.partner),
        lab_method=labs[0] if labs else None,
    )
