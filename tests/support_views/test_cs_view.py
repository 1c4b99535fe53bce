"""The CS view answers the seed's Common Patient Questions, and raises each escalation only where due."""

from __future__ import annotations

from tests.support_views.world import World


def test_why_no_refill_button(seeded: World) -> None:
    unpaid = seeded.cs("unpaid")
    assert unpaid["refill"]["eligible"] is False
    assert "NOT_PAID" in unpaid["refill"]["reasons"]
    assert unpaid["status"] == "PENDING_PAYMENT"
    canceled = seeded.cs("canceled")
    assert canceled["refill"]["eligible"] is False
    assert "STATUS_NOT_ELIGIBLE" in canceled["refill"]["reasons"]
    assert seeded.cs("original")["refill"]["eligible"] is True


def test_why_a_different_price(seeded: World) -> None:
    view = seeded.cs("paid_refill")
    original = seeded.cs("original")
    assert view["kind_label"] == f"Patient refill of order {original['order_number']}"
    assert view["original_order"] == {
        "id": original["order_id"],
        "number": original["order_number"],
        "paid": True,
        "status": original["status"],
    }
    product = view["refill"]["product"]
    assert product["active"] is True
    assert product["current_price_cents"] == 31900 == product["price_on_this_order_cents"]
    sema = next(ln for ln in original["lines"] if ln["product_id"] == product["id"])
    assert sema["unit_price_cents"] == 29900  # the original was cheaper: the price changed since
    assert view["invoice"]["amount_cents"] == 31900
    assert not view["escalations"]  # a current-price refill is not suspect


def test_paid_but_not_shipped_and_what_it_waits_for(seeded: World) -> None:
    view = seeded.cs("paid_refill")
    assert view["payment"]["status"] == "succeeded"
    assert view["invoice"]["status"] == "PAID"
    assert view["status"] == "AWAITING_REQUIREMENTS"
    assert view["intake"] == {"required": True, "status": "missing", "done": False}
    assert view["waiting_for"][0]["code"] == "INTAKE_MISSING"
    assert "intake" in view["status_explanation"].lower()
    stuck = seeded.cs("blocked_refill")
    assert stuck["status"] == "AWAITING_SCRIPT"
    assert stuck["medical_review"]["status"] == "blocked"
    assert [b["code"] for b in stuck["waiting_for"]] == ["MED_ID_MISSING"]
    assert "med_id" in stuck["waiting_for"][0]["fix"]


def test_refill_or_subscription(seeded: World) -> None:
    cycle = seeded.cs("subscription_cycle")
    assert (
        cycle["source_context"],
        cycle["kind_label"],
        cycle["is_subscription_cycle"],
        cycle["is_refill"],
    ) == ("SUBSCRIPTION_CYCLE", "Subscription cycle 1", True, False)
    refill = seeded.cs("paid_refill")
    assert (refill["source"], refill["source_context"], refill["is_refill"]) == (
        "PATIENT_PORTAL",
        "PATIENT_REFILL",
        True,
    )
    assert "not a subscription renewal" in refill["source_explanation"]


def test_payment_failed_should_not_request_another(seeded: World) -> None:
    view = seeded.cs("failed_refill")
    assert view["invoice"]["status"] == "OPEN"
    assert view["payment"]["status"] == "failed"
    assert view["payment"]["gateway_error"]
    assert view["refill_request"]["charge"] == "failed"
    blocker = view["waiting_for"][0]
    assert blocker["code"] == "PAYMENT_DECLINED"
    assert "do not request another refill" in blocker["fix"]
    assert view["invoice"]["id"] in blocker["fix"]


def test_each_escalation_where_built_and_nowhere_healthy(seeded: World) -> None:
    seen: dict[str, set[str]] = {}
    for situation in seeded.orders:
        escalations = seeded.cs(situation)["escalations"]
        assert all(e["sentence"].endswith(".") and len(e["sentence"]) > 20 for e in escalations)
        seen[situation] = {e["code"] for e in escalations}
    assert seen == seeded.expected
    every = set().union(*seeded.expected.values())
    assert every == {
        "CHARGED_BUT_NOT_UPDATED",
        "DUPLICATE_REFILL_AFTER_FAILED_PAYMENT",
        "REFILL_MISSING_ORIGINAL_LINK",
        "MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT",
        "FULFILLMENT_BEFORE_RX",
        "PRICE_OR_ELIGIBILITY_SUSPECT",
    }


def test_stuck_orders_name_cause_and_fix(seeded: World) -> None:
    rows = {r["order_id"]: r for r in seeded.get("/ops/stuck", role="ops")["orders"]}
    blocked = rows[seeded.orders["blocked_refill"]]
    assert (blocked["status"], blocked["blocking_code"], blocked["needs_action"]) == (
        "AWAITING_SCRIPT",
        "MED_ID_MISSING",
        True,
    )
    assert blocked["age_seconds"] >= 0
    assert seeded.orders["canceled"] not in rows  # closed orders are not stuck
    only = seeded.get("/ops/stuck", role="cs", only_action="true", min_age_seconds=0)["orders"]
    assert all(r["needs_action"] for r in only)
