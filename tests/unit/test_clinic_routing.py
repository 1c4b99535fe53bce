"""Routing a clinic order for the fulfillment gate: partner from the pharmacy record, codes per line."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from domain.catalog import MedicalReviewMapping, PharmacyMapping, Product
from domain.clinic.pharmacies import Offering, Pharmacy
from domain.clinic.routing import ClinicRoute, Unroutable, clinic_pharmacy_id, clinic_route, rx_med_id
from domain.orders import Order, OrderLine, OrderPlaced

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SIG = "Inject 10 units subcutaneously once weekly"


def product(mapping: PharmacyMapping | None = None, med_id: str | None = None) -> Product:
    review = MedicalReviewMapping(visit_type="glp1", med_id=med_id) if med_id else None
    return Product(
        id="sema",
        sku="SEMA-25",
        name="Semaglutide",
        price_cents=0,
        currency="usd",
        active=True,
        kind="medication",
        requires_intake=False,
        lab=None,
        medical_review=review,
        pharmacy=mapping,
    )


def pharmacy(code: str | None = None, partner: str = "dispensepro") -> Pharmacy:
    offer = Offering("sema", "2.5 mg/mL", 4900, 0, 2, True, 10, code)
    return Pharmacy("ph-1", "Empower", partner, frozenset({"TX"}), 900, "usd", {"sema": offer})


def order(source: str = "CLINIC_CART", pharmacy_id: str | None = "ph-1", sig: str | None = SIG) -> Order:
    line = OrderLine(
        product_id="sema",
        sku="SEMA-25",
        name="Semaglutide 2.5 mg/mL",
        kind="medication",
        quantity=3,
        unit_price_cents=5200,
        pharmacy_id=pharmacy_id,
        sig=sig,
        prescriber_id="dr",
    )
    placed = OrderPlaced(
        number="R-1",
        patient_id="p1",
        invoice_id="i1",
        lines=(line,),
        currency="usd",
        source=source,
        source_context="CLINIC_ORDER" if source == "CLINIC_CART" else "CHECKOUT",
        placed_at=NOW,
        clinic_id="c1",
        cart_id="cart-1",
    )
    return Order(id="o1", placed=placed)


def test_partner_comes_from_the_pharmacy_record_and_the_offering_code_wins() -> None:
    # given a clinic order routed to Empower, whose offering names its own code
    routed = clinic_route(
        order(),
        pharmacy(code="DP-SEMA-25"),
        {"sema": product(PharmacyMapping(partner="belmar", product_code="BLM-1"))},
    )
    # then the partner is the pharmacy record's adapter key, not the catalog's, and the code is Empower's
    assert routed == ClinicRoute("dispensepro", "ph-1", (routed.lines[0],))  # type: ignore[union-attr]
    assert isinstance(routed, ClinicRoute)
    assert [(ln.product_code, ln.quantity, ln.sig) for ln in routed.lines] == [("DP-SEMA-25", 3, SIG)]


def test_product_code_falls_back_to_the_catalog_mapping_then_the_sku() -> None:
    mapped = clinic_route(order(), pharmacy(), {"sema": product(PharmacyMapping(product_code="BLM-1"))})
    bare = clinic_route(order(), pharmacy(), {"sema": product()})
    assert isinstance(mapped, ClinicRoute)
    assert mapped.lines[0].product_code == "BLM-1"
    assert isinstance(bare, ClinicRoute)
    assert bare.lines[0].product_code == "SEMA-25"


def test_unroutable_says_why() -> None:
    assert clinic_route(order(), None, {}) == Unroutable(("pharmacy_configured",))
    assert clinic_route(order(pharmacy_id="ph-2"), pharmacy(), {}) == Unroutable(("pharmacy_configured",))
    no_offer = replace(pharmacy(), offerings={})
    assert clinic_route(order(sig=None), no_offer, {}) == Unroutable(("product_at_pharmacy", "sig_present"))
    assert clinic_route(order(), pharmacy(partner=""), {}) == Unroutable(("pharmacy_partner",))


def test_only_clinic_orders_have_a_clinic_pharmacy() -> None:
    assert clinic_pharmacy_id(order()) == "ph-1"
    assert clinic_pharmacy_id(order(source="PATIENT_PORTAL")) is None


def test_in_house_rx_names_the_mapped_med_id_else_the_product() -> None:
    assert rx_med_id(product(med_id="med-sema")) == "med-sema"
    assert rx_med_id(product()) == "sema"
