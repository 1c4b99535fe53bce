"""Stuck orders for ops: paged with a total, filtered, and every fix offered is one the API accepts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from api.auth import issue_token
from domain.orders import (
    ConsultCanceled,
    FulfillmentReleased,
    MedicalReviewSubmitted,
    PharmacyOrderRejected,
    PharmacyOrderSubmitted,
)
from service import medical_review, orders
from service.unit import load
from tests.support_views.world import ORG, SECRET, World, world


def _append(w: World, order_id: str, *facts: Any) -> None:
    deps = w.runtime.deps
    batch = deps.batch(w.ctx)
    batch.extend(load(deps.store, "order", order_id), *facts)
    deps.commit(batch)


@pytest.fixture(scope="module")
def stuck(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("stuck")) as w:
        deps, d, ctx = w.runtime.deps, w.demo, w.ctx
        sema, card = d["products"]["semaglutide"], d["payment_methods"]["ada_visa"]
        # Beluga cancelled the consult of a paid order: the fix is a new consult, never a retry.
        placed = orders.place_order(deps, ctx, d["patients"]["ada"], [(sema, 1)])
        orders.pay_invoice(deps, ctx, placed.invoice.id, card, "pay-consult")
        medical_review.record_intake(deps, ctx, placed.order.id, "accepted", None)
        _append(
            w,
            placed.order.id,
            MedicalReviewSubmitted(master_id="m1", trigger="t", visit_type="v", med_ids=("x",), attempt=1),
            ConsultCanceled(master_id="m1", vendor_event_id="beluga-cancel-1", reason="no show"),
        )
        w.orders["consult_canceled"] = placed.order.id
        # The pharmacy rejected a paid order.
        placed = orders.place_order(deps, ctx, d["patients"]["ada"], [(sema, 1)])
        orders.pay_invoice(deps, ctx, placed.invoice.id, card, "pay-rejected")
        _append(
            w,
            placed.order.id,
            FulfillmentReleased(partner="belmar", passed_checks=("INVOICE_PAID",)),
            PharmacyOrderSubmitted(partner="belmar", external_id="BLM-9"),
            PharmacyOrderRejected(partner="belmar", reason="SIG unreadable", vendor_event_id="ph-rej-1"),
        )
        w.orders["pharmacy_rejected"] = placed.order.id
        yield w


def _page(w: World, role: str = "ops", **params: Any) -> Any:
    return w.get("/ops/stuck", role=role, **params)


def _all(w: World, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    for _ in range(100):
        page = _page(w, limit=3, **params, **extra)
        rows += page["orders"]
        if page["next_after"] is None:
            return rows
        extra = {"after": page["next_after"]}
    raise AssertionError("paging never ended")


def test_paged_with_a_total_and_filtered(stuck: World) -> None:
    whole = _page(stuck, limit=100)
    assert whole["total"] == len(whole["orders"]) > 5 and whole["next_after"] is None
    assert [r["order_id"] for r in _all(stuck)] == [r["order_id"] for r in whole["orders"]]
    assert all(_page(stuck, limit=1)["total"] == whole["total"] for _ in range(2))
    by_code = _page(stuck, code="MED_ID_MISSING", limit=100)
    assert {r["blocking_code"] for r in by_code["orders"]} == {"MED_ID_MISSING"}
    assert by_code["total"] == len(by_code["orders"]) >= 1
    unpaid = _page(stuck, status="PENDING_PAYMENT", limit=100)["orders"]
    assert unpaid and {r["status"] for r in unpaid} == {"PENDING_PAYMENT"}
    assert _page(stuck, older_than=86_400)["total"] == 0  # nothing here is a day old
    ages = [r["since"] for r in whole["orders"]]
    assert ages == sorted(ages)  # longest stuck first


def test_after_a_cancelled_consult_the_fix_is_a_new_consult_not_a_retry(stuck: World) -> None:
    rows = {r["order_id"]: r for r in _page(stuck, limit=100)["orders"]}
    canceled = rows[stuck.orders["consult_canceled"]]
    assert canceled["blocking_code"] == "CONSULT_CANCELED"
    assert canceled["fix_call"]["operation"] == "START_NEW_CONSULT"
    assert canceled["fix_call"]["path"].endswith("/medical-review/new-consult")
    blocked = rows[stuck.orders["blocked_refill"]]
    assert blocked["fix_call"]["operation"] == "RETRY_MEDICAL_REVIEW"
    declined = rows[stuck.orders["failed_refill"]]
    assert declined["fix_call"] is None  # the patient pays; no call of ours does it
    assert "do not request another refill" in declined["fix"]


def test_every_offered_fix_is_accepted_by_the_api(stuck: World) -> None:
    offered = [r for r in _page(stuck, limit=100)["orders"] if r["fix_call"] is not None]
    assert {r["fix_call"]["operation"] for r in offered} >= {
        "START_NEW_CONSULT",
        "RETRY_MEDICAL_REVIEW",
        "RECORD_INTAKE",
    }
    assert stuck.orders["pharmacy_rejected"] in {r["order_id"] for r in offered}
    for row in offered:
        call = row["fix_call"]
        body = (
            None
            if call["body"] is None
            else {**call["body"], **({"reason": "ops fix"} if "reason" in call["body"] else {})}
        )
        token = issue_token(
            SECRET, role=call["roles"][0], subject=None, organization_id=ORG, now=datetime.now(UTC)
        )
        r = stuck.client.request(
            call["method"], call["path"], json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code < 300, (row["blocking_code"], call, r.text)
