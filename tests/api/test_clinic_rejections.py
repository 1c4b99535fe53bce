"""A clinic's paid line rejected by its pharmacy, over real HTTP with the pharmacy sandbox sending its
signed webhooks, on both stores: the request carried the prescriber and the SIG; the rejection shows
the pharmacy's reason and is an escalation condition; one line is refunded alone through the
gateway (recorded on the order and the invoice, its vials released), the other is fixed and
resubmitted, then shipped with a carrier and tracking number the clinic sees."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.payments.fake import FakeGateway
from domain.clinic.rejections import rejected_paid_line
from domain.invoices import Invoice
from service.unit import load
from tests.api.test_clinic_api import GOOD_SIG, add, checkout, npi, offer, ok, open_cart, set_up
from tests.support.app import Ledger
from tests.support.vendors import Stack, running_stack


class StackLedger:
    """The `Ledger` helpers that `set_up` uses, over a running stack's real HTTP."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def call(
        self,
        method: str,
        path: str,
        role: str,
        subject: str | None = None,
        *,
        json: Any = None,
        headers: Any = None,
    ) -> Any:
        return self.stack.call(method, path, role, subject, json=json, headers=headers or {})

    product = Ledger.product
    patient = Ledger.patient


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    with running_stack(tmp_path, url) as running:
        yield running


def test_rejected_paid_line_is_refunded_alone_or_fixed_and_resubmitted(stack: Stack) -> None:
    c = set_up(StackLedger(stack), 2)  # type: ignore[arg-type]
    other = set_up(StackLedger(stack), 1, name="Other Clinic")  # type: ignore[arg-type]
    gateway = stack.runtime.deps.gateways["fake"]
    assert isinstance(gateway, FakeGateway)
    cart_id = open_cart(c)
    add(c, cart_id, c.line(0, quantity=2))
    add(c, cart_id, c.line(1, quantity=1))
    placed = ok(checkout(c, cart_id, "k"), 201)
    first, second = sorted(placed["orders"], key=lambda o: o["quantity"], reverse=True)
    for o in (first, second):
        stack.wait_order(o["id"], lambda x: x["fulfillment"]["status"] == "submitted", what="submission")

    # the pharmacy request carried the prescriber (name, NPI) and the SIG
    sent = {o["referenceId"]: o["request"] for o in stack.pharmacy("GET", "/_sandbox/orders").json()}
    assert sent[first["id"]]["prescriber"] == {"name": "Dr Wide", "npi": npi("123456789")}
    assert [rx["sig"] for rx in sent[first["id"]]["rxs"]] == [GOOD_SIG]

    def on_hand() -> int:
        offers = ok(c.call("GET", f"/clinic/catalog?product_id={c.sema}"))["products"][0]["offers"]
        return int(next(o["on_hand"] for o in offers if o["pharmacy_id"] == c.belmar.id))

    stock_before = on_hand()
    # nothing to refund or resubmit before a rejection
    early = c.call("POST", f"/clinic/orders/{first['id']}/refund", json={"reason": "x"})
    assert early.status_code == 409
    assert early.json()["reasons"] == ["NOT_A_REJECTED_PAID_LINE"]

    # the pharmacy rejects the first line: its reason shows on the line, and it is an escalation
    for o, why in ((first, "Patient allergy on file"), (second, "SIG unreadable")):
        r = stack.pharmacy("POST", f"/_sandbox/orders/{o['id']}/status/rejected", json={"reason": why})
        assert r.json()["status"] == 200, r.text
    listed = {o["id"]: o for o in ok(c.call("GET", "/clinic/orders"))["orders"]}
    assert listed[first["id"]]["tracking"]["pharmacy_status"] == "rejected"
    assert listed[first["id"]]["tracking"]["rejection_reason"] == "Patient allergy on file"
    deps = stack.runtime.deps
    condition = rejected_paid_line(load(deps.store, "order", first["id"]).state)
    assert condition is not None
    assert (condition.reason, condition.amount_cents, condition.escalate) == (
        "Patient allergy on file",
        first["total_cents"],
        True,
    )
    assert on_hand() == stock_before + 3  # both rejected lines' vials are back

    # another clinic can neither refund nor resubmit it
    assert other.call("POST", f"/clinic/orders/{first['id']}/refund", json={"reason": "x"}).status_code == 404

    # refund the first line alone: a partial refund of the cart's one charge, recorded twice over
    refunded = ok(c.call("POST", f"/clinic/orders/{first['id']}/refund", json={"reason": "allergy"}))
    assert refunded["refunded"] is True
    (refund,) = gateway.refunds()
    charge = next(ch for ch in gateway.charges() if ch.succeeded)
    assert (refund.charge_reference, refund.amount_cents) == (charge.reference, first["total_cents"])
    assert refund.amount_cents < charge.amount_cents == placed["invoice"]["amount_cents"]
    invoice: Invoice = load(deps.store, "invoice", placed["invoice"]["id"]).state
    assert (invoice.status, invoice.refunded_cents, invoice.refunded_orders) == (
        "PAID",
        first["total_cents"],
        (first["id"],),
    )
    assert rejected_paid_line(load(deps.store, "order", first["id"]).state) is None  # the condition clears
    again = c.call("POST", f"/clinic/orders/{first['id']}/refund", json={"reason": "again"})
    assert again.status_code == 409
    assert len(gateway.refunds()) == 1

    # fix the second line's SIG and resubmit: the pharmacy gets the new SIG under a new reference
    bad = c.call(
        "POST", f"/clinic/orders/{second['id']}/resubmit", json={"reason": "x", "sig": "Use as directed"}
    )
    assert bad.status_code == 422
    fixed_sig = "Inject 0.5 mg subcutaneously once weekly"
    # with no vial left at the pharmacy the resubmission is refused, and nothing is sent or held
    sema = {k: v for k, v in c.belmar.offerings[c.sema].items() if k != "product_id"}
    admin_ledger = StackLedger(stack)
    offer(admin_ledger, c.belmar, c.sema, **{**sema, "on_hand": 0})  # type: ignore[arg-type]
    empty = c.call("POST", f"/clinic/orders/{second['id']}/resubmit", json={"reason": "x", "sig": fixed_sig})
    assert empty.status_code == 422, empty.text
    assert empty.json()["reasons"] == ["OUT_OF_STOCK"]
    offer(admin_ledger, c.belmar, c.sema, **{**sema, "on_hand": stock_before + 3})  # type: ignore[arg-type]
    r = c.call(
        "POST", f"/clinic/orders/{second['id']}/resubmit", json={"reason": "SIG rewritten", "sig": fixed_sig}
    )
    assert r.status_code == 202, r.text
    assert r.json()["sig"] == fixed_sig
    assert on_hand() == stock_before + 2  # the resubmitted line holds its vial again; the refunded one not
    stack.wait_order(second["id"], lambda x: x["fulfillment"]["status"] == "submitted", what="resubmission")
    sent = {o["referenceId"]: o["request"] for o in stack.pharmacy("GET", "/_sandbox/orders").json()}
    assert [rx["sig"] for rx in sent[f"{second['id']}.2"]["rxs"]] == [fixed_sig]

    # shipped: the clinic follows it with carrier and tracking number
    shipped = stack.pharmacy(
        "POST",
        f"/_sandbox/orders/{second['id']}.2/status/shipped",
        json={"carrier": "UPS", "tracking": "1ZTRACK"},
    )
    assert shipped.json()["status"] == 200, shipped.text
    (tracked,) = ok(c.call("GET", f"/clinic/orders?patient_id={second['patient_id']}"))["orders"]
    assert tracked["status"] == "SHIPPED"
    assert tracked["tracking"] == {
        "pharmacy_status": "shipped",
        "carrier": "UPS",
        "tracking_number": "1ZTRACK",
        "rejection_reason": None,
        "submission_error": None,
    }
