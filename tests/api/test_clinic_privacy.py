"""A clinic patient reads their own share of the cart's invoice, never another patient's (issue 10.8).

One clinic cart for three patients is paid with the clinic's card; each patient then reads their
order and their order list with a patient token. Expected shares are computed from the offerings
this test sent, never read back from the response they are compared with.
"""

from __future__ import annotations

from typing import Any

from tests.api.test_clinic_api import Clinic, add, checkout, ok, open_cart, set_up
from tests.support.app import Ledger


def _as_patient(c: Clinic, patient: dict[str, Any], path: str) -> Any:
    r = c.ledger.call("GET", path, "patient", patient["id"])
    assert r.status_code == 200, r.text
    return r


def test_a_patient_sees_only_their_own_share_of_the_clinic_invoice(ledger: Ledger) -> None:
    c = set_up(ledger, 3)
    quantities = (1, 2, 3)
    cart_id = open_cart(c)
    for i, q in enumerate(quantities):
        add(c, cart_id, c.line(i, quantity=q))
    paid = ok(checkout(c, cart_id, "privacy-1"), 201)
    by_patient = {o["patient_id"]: o["id"] for o in paid["orders"]}
    cart_total = paid["invoice"]["amount_cents"]
    assert cart_total == sum(c.belmar.total(c.sema, q) for q in quantities)

    for i, q in enumerate(quantities):
        patient = c.patients[i]
        own_id = by_patient[patient["id"]]
        others = [oid for pid, oid in by_patient.items() if pid != patient["id"]]
        share = c.belmar.total(c.sema, q)

        one = _as_patient(c, patient, f"/orders/{own_id}")
        listed = _as_patient(c, patient, f"/patients/{patient['id']}/orders")
        (mine,) = [o for o in listed.json()["orders"] if o["id"] == own_id]
        for order in (one.json(), mine):
            invoice = order["invoice"]
            assert invoice["order_ids"] == [own_id]
            assert invoice["amount_cents"] == share == order["total_cents"]
            assert invoice["status"] == "PAID"
            assert [p["status"] for p in invoice["payments"]] == ["succeeded"]
            assert all(p["payment_method_id"] is None and p["reference"] is None for p in invoice["payments"])
        for body in (one.text, listed.text):
            assert c.card not in body
            assert f":{cart_total}" not in body  # as any JSON value (a bare number could hide in an id)
            for other in others:
                assert other not in body

    # Staff still read the whole invoice: every order, the cart's total and the clinic's card.
    staff = ok(ledger.call("GET", f"/orders/{by_patient[c.patients[0]['id']]}", "staff"))
    assert sorted(staff["invoice"]["order_ids"]) == sorted(by_patient.values())
    assert staff["invoice"]["amount_cents"] == cart_total
    assert staff["invoice"]["payments"][0]["payment_method_id"] == c.card


def test_another_patient_cannot_read_a_cart_neighbours_order(ledger: Ledger) -> None:
    c = set_up(ledger, 2)
    cart_id = open_cart(c)
    add(c, cart_id, c.line(0))
    add(c, cart_id, c.line(1))
    paid = ok(checkout(c, cart_id, "privacy-2"), 201)
    neighbour = next(o["id"] for o in paid["orders"] if o["patient_id"] == c.patients[1]["id"])
    r = ledger.call("GET", f"/orders/{neighbour}", "patient", c.patients[0]["id"])
    assert r.status_code in (403, 404), r.text
