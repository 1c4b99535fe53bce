"""The fulfillment gate, given facts / when decided / then Release or Hold with named checks."""

from __future__ import annotations

from datetime import UTC, datetime

from domain import gate
from domain.catalog import MedicalReviewMapping, PharmacyMapping, Product
from domain.clinic.routing import ClinicRoute, RoutedLine, Unroutable
from domain.events import Fact
from domain.orders import (
    ConsultCanceled,
    FulfillmentHeld,
    FulfillmentReleased,
    IntakeRecorded,
    MedicalReviewSubmitted,
    Order,
    OrderCanceled,
    OrderCharged,
    OrderLine,
    OrderPlaced,
    RxWritten,
    evolve_order,
)

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
PARTNERS = frozenset({"belmar", "dispensepro"})


def product(
    med_id: str | None = "med-sema", partner: str | None = "belmar", kind: str = "medication", pid: str = "p1"
) -> Product:
    return Product(
        id=pid,
        sku="SEMA",
        name="Semaglutide",
        price_cents=100,
        currency="usd",
        active=True,
        kind=kind,  # type: ignore[arg-type]
        requires_intake=True,
        lab=None,
        medical_review=MedicalReviewMapping(visit_type="glp1", med_id=med_id),
        pharmacy=PharmacyMapping(partner=partner, product_code="BLM-1") if partner else None,
    )


def placed(
    source: str = "PATIENT_PORTAL",
    context: str = "PATIENT_REFILL",
    intake: bool = True,
    pharmacy_id: str | None = None,
    pid: str = "p1",
) -> OrderPlaced:
    line = OrderLine(
        product_id=pid,
        sku="SEMA",
        name="Semaglutide",
        kind="medication",
        quantity=1,
        unit_price_cents=100,
        requires_intake=intake,
        pharmacy_id=pharmacy_id,
        sig="Inject 0.25 mg SC weekly" if pharmacy_id else None,
    )
    return OrderPlaced(
        number="R-1",
        patient_id="pat",
        invoice_id="inv",
        lines=(line,),
        currency="usd",
        source=source,
        source_context=context,
        placed_at=NOW,
    )


def given(*facts: Fact, first: OrderPlaced | None = None) -> Order:
    state: Order | None = None
    for fact in (first or placed(), *facts):
        state = evolve_order(state, fact, "order-1")
    assert state is not None
    return state


PAID = OrderCharged(invoice_id="inv", charged_at=NOW)
ACCEPTED = IntakeRecorded(status="accepted")
SUBMITTED = MedicalReviewSubmitted(
    master_id="mr-order-1", trigger="t", visit_type="glp1", med_ids=("med-sema",), attempt=1
)


def rx(*med_ids: str, event: str = "e1") -> RxWritten:
    return RxWritten(master_id="mr-order-1", med_ids=med_ids, vendor_event_id=event, written_at=NOW)


def facts(order: Order, invoice: str = "PAID", prod: Product | None = None, **kw: object) -> gate.GateFacts:
    return gate.GateFacts(
        order=order,
        invoice_status=invoice,
        products={"p1": prod or product()},
        configured_partners=PARTNERS,
        **kw,  # type: ignore[arg-type]
    )


def test_every_check_holding_releases_to_the_products_partner_and_names_every_check() -> None:
    decision = gate.decide(facts(given(PAID, ACCEPTED, SUBMITTED, rx("med-sema"))))
    assert decision == gate.Release(checks_passed=gate.CHECKS, partner="belmar")


def test_a_payment_alone_never_releases() -> None:
    decision = gate.decide(facts(given(PAID, ACCEPTED, SUBMITTED)))
    assert isinstance(decision, gate.Hold)
    assert decision.checks_failed == (gate.MEDICAL_REVIEW_COMPLETE, gate.RX_CONFIRMED)
    assert gate.INVOICE_PAID in decision.checks_passed


def test_unpaid_order_holds_on_payment_even_with_a_prescription() -> None:
    decision = gate.decide(facts(given(ACCEPTED, rx("med-sema")), invoice="OPEN"))
    assert isinstance(decision, gate.Hold)
    assert decision.checks_failed == (gate.INVOICE_PAID,)


def test_rx_for_another_med_id_holds_and_is_flagged_as_a_mismatch() -> None:
    order = given(PAID, ACCEPTED, SUBMITTED, rx("med-tirz"))
    decision = gate.decide(facts(order))
    assert isinstance(decision, gate.Hold)
    assert decision.checks_failed == (gate.RX_CONFIRMED, gate.RX_MEDID_MISMATCH)
    assert gate.rx_mismatch(order, {"p1": product()})
    assert not gate.rx_mismatch(given(PAID, ACCEPTED, SUBMITTED), {"p1": product()})  # no RX yet: no flag


def test_each_failing_condition_is_named() -> None:
    order = given(PAID, IntakeRecorded(status="needs_correction"), rx("med-sema"))
    decision = gate.decide(facts(order, prod=product(partner=None)))
    assert isinstance(decision, gate.Hold)
    assert decision.checks_failed == (gate.INTAKE_COMPLETE, gate.PHARMACY_CONFIGURED)


def test_missing_med_id_mapping_cannot_confirm_any_prescription() -> None:
    decision = gate.decide(facts(given(PAID, ACCEPTED, rx("med-sema")), prod=product(med_id=None)))
    assert isinstance(decision, gate.Hold)
    assert gate.RX_CONFIRMED in decision.checks_failed


def test_terminal_and_canceled_consults_hold() -> None:
    canceled = gate.decide(facts(given(PAID, ACCEPTED, rx("med-sema"), OrderCanceled(reason="x"))))
    assert isinstance(canceled, gate.Hold)
    assert canceled.checks_failed == (gate.ORDER_OPEN,)
    consult = gate.decide(
        facts(given(PAID, ACCEPTED, rx("med-sema"), ConsultCanceled(master_id="m", vendor_event_id="e9")))
    )
    assert isinstance(consult, gate.Hold)
    assert consult.checks_failed == (gate.MEDICAL_REVIEW_COMPLETE,)


def test_partner_without_a_client_is_not_configured() -> None:
    decision = gate.decide(facts(given(PAID, ACCEPTED, rx("med-sema")), prod=product(partner="elsewhere")))
    assert isinstance(decision, gate.Hold)
    assert decision.checks_failed == (gate.PHARMACY_CONFIGURED,)


def test_clinic_cart_order_needs_no_beluga_review_but_its_in_house_rx_must_match() -> None:
    first = placed(source="CLINIC_CART", context="CLINIC_ORDER", intake=False, pharmacy_id="ph1")
    route = ClinicRoute("dispensepro", "ph1", (RoutedLine("p1", "DP-1", 1, "Inject 0.25 mg SC weekly"),))
    order = given(
        RxWritten(
            master_id="clinic:123", med_ids=("med-sema",), vendor_event_id="clinic-rx:1", written_at=NOW
        ),
        PAID,
        first=first,
    )
    assert gate.decide(facts(order, clinic_route=route)) == gate.Release(gate.CHECKS, "dispensepro")
    unroutable = gate.decide(facts(order, clinic_route=Unroutable(("sig_present",))))
    assert isinstance(unroutable, gate.Hold)
    assert unroutable.checks_failed == (gate.PHARMACY_CONFIGURED,)


def test_release_is_recorded_once_and_an_unchanged_hold_is_not_repeated() -> None:
    ready = given(PAID, ACCEPTED, rx("med-sema"))
    assert gate.facts_to_record(facts(ready)) == [
        FulfillmentReleased(partner="belmar", passed_checks=gate.CHECKS)
    ]
    released = given(PAID, ACCEPTED, rx("med-sema"), *gate.facts_to_record(facts(ready)))
    assert gate.facts_to_record(facts(released)) == []

    waiting = given(PAID, ACCEPTED)
    [held] = gate.facts_to_record(facts(waiting))
    assert isinstance(held, FulfillmentHeld)
    assert gate.facts_to_record(facts(given(PAID, ACCEPTED, held))) == []
    assert gate.facts_to_record(facts(given(ACCEPTED), invoice="OPEN")) == []  # unpaid: not news
