"""Medical review rules: every blocking cause listed, one masterId per visit, the auto-submit trigger,
and the status an RX for another drug leaves the order in."""

from __future__ import annotations

from dataclasses import replace

from domain import medical_review as mr
from domain.catalog import LabRequirement, MedicalReviewMapping, PharmacyMapping
from domain.orders import IntakeRecorded, MedicalReviewBlocked, MedicalReviewSubmitted
from domain.status import order_status
from tests.unit.test_gate import ACCEPTED, PAID, given, placed, product, rx


def test_nothing_blocks_a_fully_mapped_order_with_accepted_intake() -> None:
    order = given(PAID, ACCEPTED)
    assert mr.blocking_reasons(order, {"p1": product()}) == ()
    plan = mr.plan_visit(order, {"p1": product()})
    assert plan == mr.VisitPlan(
        master_id=mr.master_id_for("order-1"),
        visit_type="glp1",
        med_ids=("med-sema",),
        pharmacy="belmar",
        lab_method=None,
    )


def test_every_blocking_cause_is_listed_at_once_in_a_stable_order() -> None:
    bare = replace(product(), medical_review=None, pharmacy=None, lab=LabRequirement(method=None))
    reasons = mr.blocking_reasons(given(PAID, IntakeRecorded(status="needs_correction")), {"p1": bare})
    assert reasons == (
        mr.INTAKE_NEEDS_CORRECTION,
        mr.VISIT_TYPE_MISSING,
        mr.MED_ID_MISSING,
        mr.PHARMACY_CONFIG_MISSING,
        mr.LAB_METHOD_MISSING,
    )


def test_each_intake_state_has_its_own_code() -> None:
    codes = {
        status: mr.blocking_reasons(
            given(PAID, *([IntakeRecorded(status=status)] if status != "missing" else [])), {"p1": product()}
        )
        for status in ("missing", "submitted", "needs_correction", "rejected")
    }
    assert codes == {
        "missing": (mr.INTAKE_MISSING,),
        "submitted": (mr.INTAKE_NOT_ACCEPTED,),
        "needs_correction": (mr.INTAKE_NEEDS_CORRECTION,),
        "rejected": (mr.INTAKE_REJECTED,),
    }


def test_missing_mappings_each_block() -> None:
    no_med = replace(product(), medical_review=MedicalReviewMapping(visit_type="glp1", med_id=None))
    no_visit = replace(product(), medical_review=MedicalReviewMapping(visit_type=None, med_id="m"))
    no_code = replace(product(), pharmacy=PharmacyMapping(partner="belmar", product_code=None))
    order = given(PAID, ACCEPTED)
    assert mr.blocking_reasons(order, {"p1": no_med}) == (mr.MED_ID_MISSING,)
    assert mr.blocking_reasons(order, {"p1": no_visit}) == (mr.VISIT_TYPE_MISSING,)
    assert mr.blocking_reasons(order, {"p1": no_code}) == (mr.PHARMACY_CONFIG_MISSING,)
    with_lab = replace(product(), lab=LabRequirement(method="at_home_kit"))
    assert mr.blocking_reasons(order, {"p1": with_lab}) == ()


def test_the_master_id_is_stable_and_leads_back_to_its_order() -> None:
    assert mr.master_id_for("abc") == mr.master_id_for("abc")
    assert mr.order_id_of_master(mr.master_id_for("abc")) == "abc"
    assert mr.order_id_of_master("someone-elses") is None
    blocked = given(
        PAID,
        ACCEPTED,
        MedicalReviewBlocked(
            master_id=mr.master_id_for("order-1"), trigger="t", reasons=("MED_ID_MISSING",), attempt=1
        ),
    )
    assert mr.plan_visit(blocked, {"p1": product()}).master_id == mr.master_id_for("order-1")


def test_auto_submit_only_when_paid_and_awaiting_script_and_never_sent() -> None:
    def ready(order: object) -> bool:
        return mr.should_auto_submit(order, order_status(order))  # type: ignore[arg-type]

    assert not ready(given(ACCEPTED))  # unpaid
    assert not ready(given(PAID))  # AWAITING_REQUIREMENTS
    assert ready(given(PAID, ACCEPTED))
    assert not ready(
        given(PAID, ACCEPTED, MedicalReviewBlocked(master_id="m", trigger="t", reasons=("X",), attempt=1))
    )  # ops retry, not the policy
    clinic = given(
        PAID, first=placed(source="CLINIC_CART", context="CLINIC_ORDER", intake=False, pharmacy_id="ph")
    )
    assert not mr.needs_medical_review(clinic)
    assert not ready(clinic)


def test_trigger_names_a_patient_refill_apart_from_other_orders() -> None:
    assert mr.trigger_for(given(PAID)) == "patient_refill_payment_succeeded"
    assert mr.trigger_for(given(PAID, first=placed(context="CHECKOUT"))) == "order_payment_succeeded"


def test_an_rx_for_another_drug_leaves_the_order_awaiting_its_script() -> None:
    submitted = MedicalReviewSubmitted(
        master_id="m", trigger="t", visit_type="glp1", med_ids=("med-sema",), attempt=1
    )
    assert order_status(given(PAID, ACCEPTED, submitted, rx("med-tirz"))) == "AWAITING_SCRIPT"
    assert (
        order_status(given(PAID, ACCEPTED, submitted, rx("med-tirz"), rx("med-sema", event="e2")))
        == "AWAITING_FULFILLMENT"
    )
