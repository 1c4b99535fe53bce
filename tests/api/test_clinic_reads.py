"""Issue 12 over HTTP on both stores: the clinic's lists, names, merges, shipping per shipment,
stock reserved at checkout, and pharmacy options that say why not.

Set-up comes from `test_clinic_api` (staff through /clinic/admin); expectations are computed here
from the offering data the test sent, never read back from the response they are compared with.
"""

from __future__ import annotations

import threading
from typing import Any

from tests.api.test_clinic_api import GOOD_SIG, add, admin, checkout, offer, ok, open_cart, set_up
from tests.support.app import Ledger


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [str(i["id"]) for i in items]


def test_lists_are_scoped_paged_and_filtered_and_another_clinic_gets_404(ledger: Ledger) -> None:
    c = set_up(ledger, 3)
    other = set_up(ledger, 1, name="Other Clinic")
    cart_id = open_cart(c)
    for i in range(3):
        add(c, cart_id, c.line(i, quantity=1 + i))
    placed = ok(checkout(c, cart_id, "k1"), 201)
    mine = {o["id"]: o for o in placed["orders"]}
    second_cart = open_cart(c)  # open, not validated

    # orders: newest first, each with its tracking; paged with limit/after; total over all pages
    first = ok(c.call("GET", "/clinic/orders?limit=2"))
    assert first["total"] == 3
    assert len(first["orders"]) == 2
    rest = ok(c.call("GET", f"/clinic/orders?limit=2&after={first['next_after']}"))
    assert rest["next_after"] is None
    assert sorted(ids(first["orders"] + rest["orders"])) == sorted(mine)
    assert {o["tracking"]["pharmacy_status"] for o in first["orders"]} == {"not_sent"}
    # filters: patient, checkout (cart or invoice), status, dates
    patient = c.patients[1]["id"]
    (one,) = ok(c.call("GET", f"/clinic/orders?patient_id={patient}"))["orders"]
    assert (one["patient_id"], one["quantity"]) == (patient, 2)
    assert ok(c.call("GET", f"/clinic/orders?checkout_id={cart_id}"))["total"] == 3
    assert ok(c.call("GET", f"/clinic/orders?checkout_id={placed['invoice']['id']}"))["total"] == 3
    assert ok(c.call("GET", f"/clinic/orders?checkout_id={second_cart}"))["total"] == 0
    assert ok(c.call("GET", "/clinic/orders?status=AWAITING_FULFILLMENT"))["total"] == 3
    assert ok(c.call("GET", "/clinic/orders?status=SHIPPED"))["total"] == 0
    assert ok(c.call("GET", "/clinic/orders?from=2999-01-01T00:00:00Z"))["total"] == 0
    assert ok(c.call("GET", "/clinic/orders?to=2000-01-01T00:00:00Z"))["total"] == 0
    assert c.call("GET", "/clinic/orders?limit=0").status_code == 422
    assert c.call("GET", "/clinic/orders?after=nope").status_code == 422

    # GET /orders/{id}: the clinic's own order, and nobody else's
    order_id = next(iter(mine))
    assert ok(c.call("GET", f"/orders/{order_id}"))["id"] == order_id
    assert other.call("GET", f"/orders/{order_id}").status_code == 404
    assert ok(other.call("GET", "/clinic/orders"))["total"] == 0

    # roster: names and states, only this clinic's patients
    roster = ok(c.call("GET", "/clinic/patients?limit=10"))
    assert sorted(ids(roster["patients"])) == sorted(p["id"] for p in c.patients)
    assert ok(c.call("GET", "/clinic/patients?state=CA"))["patients"] == [
        {"id": c.patients[1]["id"], "name": "Pat Example", "state": "CA"}
    ]
    assert ids(ok(other.call("GET", "/clinic/patients"))["patients"]) == [other.patients[0]["id"]]
    # another clinic's patient cannot be put in a cart nor asked about
    theirs = open_cart(other)
    assert other.call("POST", f"/clinic/carts/{theirs}/lines", json=c.line(0)).status_code == 404
    q = f"product_id={c.sema}&patient_id={c.patients[0]['id']}"
    assert other.call("GET", f"/clinic/pharmacy-options?{q}").status_code == 404

    # prescribers with NPI and licensed states
    prescribers = ok(c.call("GET", "/clinic/prescribers"))["prescribers"]
    assert {(p["name"], tuple(p["licensed_states"])) for p in prescribers} == {
        ("Dr Wide", ("CA", "FL", "NY", "TX")),
        ("Dr Texas", ("TX",)),
    }
    assert all(len(p["npi"]) == 10 for p in prescribers)
    assert ids(ok(c.call("GET", "/clinic/prescribers?state=CA"))["prescribers"]) == [c.dr_wide]

    # carts, newest first, with their state
    carts = ok(c.call("GET", "/clinic/carts"))["carts"]
    assert ids(carts) == [second_cart, cart_id]
    assert (carts[1]["status"], carts[1]["line_count"], carts[1]["invoice_id"]) == (
        "checked_out",
        3,
        placed["invoice"]["id"],
    )
    assert ids(ok(c.call("GET", "/clinic/carts?status=open"))["carts"]) == [second_cart]
    assert ok(other.call("GET", "/clinic/carts"))["carts"][0]["id"] == theirs

    # quickfills
    body = {
        "name": "Sema start",
        "product_id": c.sema,
        "quantity": 2,
        "pharmacy_id": c.belmar.id,
        "sig": GOOD_SIG,
        "prescriber_id": c.dr_wide,
    }
    quick = ok(c.call("POST", "/clinic/quickfills", json=body), 201)
    assert ids(ok(c.call("GET", "/clinic/quickfills"))["quickfills"]) == [quick["id"]]
    assert ok(c.call("GET", f"/clinic/quickfills?product_id={c.tirz}"))["quickfills"] == []
    assert ok(other.call("GET", "/clinic/quickfills"))["quickfills"] == []

    # roles: the lists are the clinic role's
    assert ledger.call("GET", "/clinic/orders", "staff").status_code == 403
    assert ledger.client.get("/clinic/catalog").status_code == 401


def test_catalog_shows_each_pharmacys_landed_vial_turnaround_and_stock(ledger: Ledger) -> None:
    c = set_up(ledger, 1)
    page = ok(c.call("GET", "/clinic/catalog"))
    by_product = {p["product_id"]: p for p in page["products"]}
    assert set(by_product) == {c.sema, c.tirz}
    for product_id, entry in by_product.items():
        assert {o["pharmacy_id"] for o in entry["offers"]} == {c.belmar.id, c.empower.id}
        for o in entry["offers"]:
            ph = c.pharmacy(o["pharmacy_id"])
            sent = ph.offerings[product_id]
            assert o["landed_unit_cents"] == ph.total(product_id, 1)
            assert (o["turnaround_days"], o["on_hand"]) == (sent["turnaround_days"], sent["on_hand"])
    one = ok(c.call("GET", "/clinic/catalog?limit=1"))
    assert (one["total"], len(one["products"])) == (2, 1)


def test_lines_and_problems_carry_names_and_merges_are_flagged(ledger: Ledger) -> None:
    c = set_up(ledger, 2)
    cart_id = open_cart(c)
    first = ok(c.call("POST", f"/clinic/carts/{cart_id}/lines", json=c.line(1, quantity=3)), 201)
    (line,) = first["lines"]
    assert first["merges"] == []
    assert (line["patient_name"], line["pharmacy_name"], line["prescriber_name"]) == (
        "Pat Example",
        "Belmar",
        "Dr Wide",
    )
    assert line["product_name"] == "Semaglutide 2.5 mg/mL"
    # the same patient and product again, at another pharmacy: merged, and said so
    again = c.line(1, quantity=1, pharmacy=c.empower.id, prescriber=c.dr_texas)
    merged = ok(c.call("POST", f"/clinic/carts/{cart_id}/lines", json=again), 201)
    (merge,) = merged["merges"]
    assert (merge["line_id"], merge["quantity_before"], merge["quantity_after"]) == (line["line_id"], 3, 4)
    assert merge["pharmacy_changed"] is True
    assert merge["prescriber_changed"] is True
    assert merge["detail"] == (
        f"merged into line {line['line_id']}, quantity 3 → 4, pharmacy changed from Belmar to Empower, "
        "prescriber changed."
    )
    # a California patient with a Texas-only prescriber: the problem names who and what
    problems = ok(c.call("POST", f"/clinic/carts/{cart_id}/validate"))["problems"]
    assert [(p["code"], p["patient_name"], p["prescriber_name"], p["pharmacy_name"]) for p in problems] == [
        ("PRESCRIBER_NOT_LICENSED_IN_STATE", "Pat Example", "Dr Texas", "Empower")
    ]


def test_reorder_into_a_quickfill_line_is_reported_not_silent(ledger: Ledger) -> None:
    c = set_up(ledger, 1)
    cart_id = open_cart(c)
    add(c, cart_id, c.line(0, quantity=1))
    placed = ok(checkout(c, cart_id, "k"), 201)
    next_cart = open_cart(c)
    add(c, next_cart, c.line(0, quantity=2, pharmacy=c.empower.id))
    cart = ok(c.call("POST", f"/clinic/carts/{next_cart}/reorder/{placed['orders'][0]['id']}"))
    (merge,) = cart["merges"]
    assert (merge["quantity_before"], merge["quantity_after"], merge["pharmacy_changed"]) == (2, 3, True)
    assert "pharmacy changed from Empower to Belmar" in merge["detail"]


def test_one_shipping_fee_per_patient_and_pharmacy_shared_to_the_cent(ledger: Ledger) -> None:
    c = set_up(ledger, 2)
    cart_id = open_cart(c)
    # patient 0: two products at Belmar (one shipment); patient 1: eight vials alone (the 1,504¢ case)
    a = add(c, cart_id, c.line(0, quantity=2))
    offer(ledger, c.belmar, c.tirz, vial_price_cents=9000, fee_cents=500, turnaround_days=3, on_hand=50)
    b = add(c, cart_id, c.line(0, product=c.tirz, quantity=1))
    d = add(c, cart_id, c.line(1, quantity=8))
    cart = ok(c.call("GET", f"/clinic/carts/{cart_id}"))
    lines = {ln["line_id"]: ln for ln in cart["lines"]}
    fee = c.belmar.shipping_cents  # 1499: 2:1 over three vials is 999.33 / 499.67
    assert (lines[a]["shipping_share_cents"], lines[b]["shipping_share_cents"]) == (999, 500)
    assert lines[a]["shipping_share_cents"] + lines[b]["shipping_share_cents"] == fee
    assert lines[d]["shipping_share_cents"] == fee
    assert lines[d]["line_total_cents"] == 8 * (4500 + 350) + fee
    placed = ok(checkout(c, cart_id, "ship"), 201)
    # what was shown is what was charged, line by line and in total
    assert (
        ledger.gateway.charges()[0].amount_cents == cart["total_cents"] == placed["invoice"]["amount_cents"]
    )
    by_line = {(o["patient_id"], o["product_id"]): o for o in placed["orders"]}
    for ln in cart["lines"]:
        order = by_line[(ln["patient_id"], ln["product_id"])]
        assert (order["shipping_cents"], order["total_cents"]) == (
            ln["shipping_share_cents"],
            ln["line_total_cents"],
        )
        assert "mg/mL 2.5 mg/mL" not in order["name"]


def test_two_concurrent_checkouts_for_the_last_five_vials_one_wins_one_is_out_of_stock(
    ledger: Ledger,
) -> None:
    c = set_up(ledger, 2)
    offer(ledger, c.belmar, c.sema, vial_price_cents=4500, fee_cents=350, turnaround_days=3, on_hand=5)
    carts = [open_cart(c), open_cart(c)]
    for i, cart_id in enumerate(carts):
        add(c, cart_id, c.line(i, quantity=5))
        assert ok(c.call("POST", f"/clinic/carts/{cart_id}/validate"))["ok"] is True  # both fit alone
    answers: dict[str, Any] = {}
    start = threading.Barrier(2)

    def run(cart_id: str) -> None:
        start.wait()
        answers[cart_id] = checkout(c, cart_id, f"race-{cart_id}")

    threads = [threading.Thread(target=run, args=(cid,)) for cid in carts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(a.status_code for a in answers.values())
    assert codes == [201, 422], [a.text for a in answers.values()]
    lost = next(a for a in answers.values() if a.status_code == 422).json()
    assert [p["code"] for p in lost["problems"]] == ["OUT_OF_STOCK"]
    assert len([ch for ch in ledger.gateway.charges() if ch.succeeded]) == 1
    stock = ok(c.call("GET", f"/clinic/catalog?product_id={c.sema}"))["products"][0]["offers"]
    assert next(o["on_hand"] for o in stock if o["pharmacy_id"] == c.belmar.id) == 0


def test_cancel_releases_the_reserved_vials(ledger: Ledger) -> None:
    c = set_up(ledger, 1)
    offer(ledger, c.belmar, c.sema, vial_price_cents=4500, fee_cents=350, turnaround_days=3, on_hand=5)
    failing = ok(
        c.call(
            "POST", "/clinic/payment-methods", json={"gateway": "fake", "token": "pm_card_chargeCustomerFail"}
        ),
        201,
    )["id"]
    cart_id = open_cart(c)
    add(c, cart_id, c.line(0, quantity=4))
    declined = checkout(c, cart_id, "d", card=failing)
    assert declined.status_code == 402
    order_id = declined.json()["orders"][0]["id"]

    def on_hand() -> int:
        offers = ok(c.call("GET", f"/clinic/catalog?product_id={c.sema}"))["products"][0]["offers"]
        return int(next(o["on_hand"] for o in offers if o["pharmacy_id"] == c.belmar.id))

    assert on_hand() == 1  # reserved although unpaid: the order exists and may still be paid
    ok(ledger.call("POST", f"/orders/{order_id}/cancel", "staff", json={"reason": "clinic changed its mind"}))
    assert on_hand() == 5
    ledger.call("POST", f"/orders/{order_id}/cancel", "staff", json={"reason": "again"})
    assert on_hand() == 5  # released once


def test_pharmacy_options_that_fit_nothing_say_why(ledger: Ledger) -> None:
    c = set_up(ledger, 3)  # TX, CA, NY
    new_york = c.patients[2]["id"]
    body = ok(c.call("GET", f"/clinic/pharmacy-options?product_id={c.tirz}&patient_id={new_york}&quantity=2"))
    # Belmar has no tirzepatide; Empower may not ship to New York
    assert body["options"] == []
    assert {u["name"]: u["reasons"] for u in body["unfit"]} == {
        "Belmar": ["OUT_OF_STOCK"],
        "Empower": ["PHARMACY_NOT_LICENSED_IN_STATE"],
    }
    assert "Empower is not licensed in NY" in body["detail"]
    assert "Belmar has 0 vial(s) in stock, 2 needed" in body["detail"]
    carried = admin(
        ledger,
        "/pharmacies",
        {"name": "Nowhere", "partner": "belmar", "licensed_states": ["NY"], "shipping_cents": 0},
    )
    body = ok(c.call("GET", f"/clinic/pharmacy-options?product_id={c.tirz}&patient_id={new_york}"))
    assert next(u for u in body["unfit"] if u["pharmacy_id"] == carried)["reasons"] == [
        "PRODUCT_NOT_AT_PHARMACY"
    ]
