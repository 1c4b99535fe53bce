"""Given/when/then helpers: build aggregate state by folding facts, exactly as the store does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.aggregates import fold
from domain.catalog import MedicalReviewMapping, Product, ProductAdded
from domain.events import Fact
from domain.orders import Order, OrderCharged, OrderLine, OrderPlaced
from domain.parties import Patient, PatientRegistered, PaymentMethodSaved

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def given(aggregate_type: str, aggregate_id: str, *facts: Fact) -> Any:
    return fold(aggregate_type, aggregate_id, facts)


def product(pid: str = "p1", **overrides: Any) -> Product:
    fields: dict[str, Any] = {
        "sku": "SEMA",
        "name": "Semaglutide",
        "price_cents": 29900,
        "currency": "usd",
        "active": True,
        "kind": "medication",
        "requires_intake": False,
        "medical_review": MedicalReviewMapping(visit_type="refill", med_id="m1"),
    }
    fields.update(overrides)
    return given("product", pid, ProductAdded(**fields))  # type: ignore[no-any-return]


def patient(pid: str = "pat1", gateways: tuple[str, ...] = ("fake",)) -> Patient:
    facts: list[Fact] = [PatientRegistered(name="Pat", email="p@example.com", state="TX")]
    facts += [
        PaymentMethodSaved(payment_method_id=f"pm-{g}", gateway=g, customer_ref="c", payment_method_ref="r")
        for g in gateways
    ]
    return given("patient", pid, *facts)  # type: ignore[no-any-return]


def line(p: Product, quantity: int = 1) -> OrderLine:
    return OrderLine(
        product_id=p.id,
        sku=p.sku,
        name=p.name,
        kind=p.kind,
        quantity=quantity,
        unit_price_cents=p.price_cents,
        requires_intake=p.requires_intake,
        lab=p.lab,
    )


def placed(patient_id: str, *lines: OrderLine, **links: Any) -> OrderPlaced:
    return OrderPlaced(
        number="R-1001",
        patient_id=patient_id,
        invoice_id="inv1",
        lines=lines,
        currency="usd",
        source=links.pop("source", "EMR"),
        source_context=links.pop("source_context", "CHECKOUT"),
        placed_at=T0,
        **links,
    )


def order(*facts: Fact, oid: str = "o1") -> Order:
    return given("order", oid, *facts)  # type: ignore[no-any-return]


def charged() -> OrderCharged:
    return OrderCharged(invoice_id="inv1", charged_at=at(1))
