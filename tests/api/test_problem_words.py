"""Refusals in words, said by the API: the domain hands back codes, fields and facts (names, states,
vial counts, a SIG's missing parts), and problem+json answers and a cart's problems word them."""

from __future__ import annotations

from tests.api.test_clinic_api import add, checkout, npi, ok, open_cart, set_up
from tests.support.app import Ledger


def test_cart_problems_and_refusals_are_worded_from_typed_facts(ledger: Ledger) -> None:
    c = set_up(ledger, 2)  # the first patient lives in TX, the second in CA
    cart_id = open_cart(c)
    vague = add(c, cart_id, c.line(0, quantity=2, sig="Use as directed"))
    # A Texas-only prescriber for the Californian, and tirzepatide that Belmar has none of.
    stuck = add(c, cart_id, c.line(1, product=c.tirz, prescriber=c.dr_texas))

    validation = ok(c.call("POST", f"/clinic/carts/{cart_id}/validate"))
    words = {(p["line_id"], p["code"]): p["detail"] for p in validation["problems"]}
    assert words == {
        (vague, "SIG_INCOMPLETE"): (
            'SIG is missing: dose, dose unit, route, frequency ("as directed" is not a direction).'
        ),
        (stuck, "OUT_OF_STOCK"): "Belmar has 0 vial(s) of 2.5 mg/mL left for this line, which needs 1.",
        (stuck, "PRESCRIBER_NOT_LICENSED_IN_STATE"): (
            f"Dr Texas (NPI {npi('987654321')}) is not licensed in CA, the patient's state."
        ),
    }
    # The cart keeps its last validation (typed), and says it in the same words when read back.
    assert ok(c.call("GET", f"/clinic/carts/{cart_id}"))["last_validation"] == validation

    refused = checkout(c, cart_id, "words-1")
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["detail"] == "The cart has 3 problem(s); fix them before checkout."
    assert sorted(body["reasons"]) == ["OUT_OF_STOCK", "PRESCRIBER_NOT_LICENSED_IN_STATE", "SIG_INCOMPLETE"]
    assert {(p["line_id"], p["code"]): p["detail"] for p in body["problems"]} == words

    # A domain conflict, worded by the API: a checked-out cart takes no more lines.
    ok(c.call("DELETE", f"/clinic/carts/{cart_id}/lines/{stuck}"))
    ok(c.call("PATCH", f"/clinic/carts/{cart_id}/lines/{vague}", json={"sig": "Inject 10 units SC weekly"}))
    ok(checkout(c, cart_id, "words-2"), 201)
    closed = c.call("POST", f"/clinic/carts/{cart_id}/lines", json=c.line(1))
    assert closed.status_code == 409, closed.text
    assert (closed.json()["detail"], closed.json()["reasons"]) == (
        "The cart is already checked out.",
        ["CART_CHECKED_OUT"],
    )


def test_a_refused_field_is_named_and_worded(ledger: Ledger) -> None:
    r = ledger.client.get("/cs/orders", params={"q": "   "}, headers=ledger.auth("cs"))
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["reasons"] == ["QUERY_EMPTY"]
    assert problem["detail"] == "Type an order number, an e-mail or a name."
    assert problem["errors"] == [{"field": "q", "message": "Type an order number, an e-mail or a name."}]
