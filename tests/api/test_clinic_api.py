"""Clinic refill day over HTTP (issue 6, seed 000), on SQLite and PostgreSQL.

Everything is set up as staff through /clinic/admin and driven as a clinic user with a clinic
token. Expected prices are computed here from the offering data this test sends, never read back
from the response they are compared with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from domain.clinic.routing import ClinicRoute
from domain.events import Actor
from service import clinic as clinic_service
from service.unit import Context, load
from tests.support.app import ORG, Ledger

STATES = ("TX", "CA", "NY", "FL")
GOOD_SIG = "Inject 0.25 mg subcutaneously once weekly"


def npi(first9: str) -> str:
    """A Luhn-valid NPI (prefix 80840) from nine digits."""
    total = 24 + sum(
        (lambda d: d - 9 if d > 9 else d)(int(c) * (2 if i % 2 == 0 else 1))
        for i, c in enumerate(reversed(first9))
    )
    return first9 + str((10 - total % 10) % 10)


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


@dataclass
class Pharmacy:
    id: str
    name: str
    partner: str
    states: tuple[str, ...]
    shipping_cents: int
    offerings: dict[str, dict[str, Any]] = field(default_factory=dict)  # by product id, as sent

    def total(self, product_id: str, quantity: int) -> int:
        """A line alone in its shipment: its vials at price + fees, and the one shipping fee."""
        o = self.offerings[product_id]
        return (int(o["vial_price_cents"]) + int(o["fee_cents"])) * quantity + self.shipping_cents

    def landed(self, product_id: str, quantity: int) -> int:
        return self.total(product_id, quantity) // quantity  # shown per vial, rounded down


@dataclass
class Clinic:
    ledger: Ledger
    id: str
    user: str
    card: str
    sema: str
    tirz: str
    belmar: Pharmacy
    empower: Pharmacy
    dr_wide: str
    dr_texas: str
    patients: list[dict[str, Any]]

    def call(self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.ledger.call(method, path, "clinic", self.user, json=json, headers=headers)

    def pharmacy(self, pharmacy_id: str) -> Pharmacy:
        return next(p for p in (self.belmar, self.empower) if p.id == pharmacy_id)

    def line(
        self,
        patient: int,
        product: str | None = None,
        quantity: int = 1,
        pharmacy: str | None = None,
        sig: str = GOOD_SIG,
        prescriber: str | None = None,
    ) -> dict[str, Any]:
        return {
            "patient_id": self.patients[patient]["id"],
            "product_id": product or self.sema,
            "quantity": quantity,
            "pharmacy_id": pharmacy or self.belmar.id,
            "sig": sig,
            "prescriber_id": prescriber or self.dr_wide,
        }


def admin(ledger: Ledger, path: str, body: dict[str, Any], method: str = "POST") -> str:
    r = ledger.call(method, f"/clinic/admin{path}", "staff", json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]  # type: ignore[no-any-return]


def pharmacy(ledger: Ledger, name: str, partner: str, states: tuple[str, ...], shipping: int) -> Pharmacy:
    pid = admin(
        ledger,
        "/pharmacies",
        {"name": name, "partner": partner, "licensed_states": list(states), "shipping_cents": shipping},
    )
    return Pharmacy(pid, name, partner, states, shipping)


def offer(ledger: Ledger, ph: Pharmacy, product_id: str, **fields: Any) -> None:
    body = {"product_id": product_id, "strength": "2.5 mg/mL", **fields}
    admin(ledger, f"/pharmacies/{ph.id}/offerings", body, method="PUT")
    ph.offerings[product_id] = body


def set_up(ledger: Ledger, n_patients: int, name: str = "Lone Star Wellness") -> Clinic:
    """A clinic, its user, two prescribers, two partner pharmacies and a roster of patients."""
    sema = ledger.product(sku=f"SEMA-{name[:4]}", name="Semaglutide", price_cents=0)["id"]
    tirz = ledger.product(sku=f"TIRZ-{name[:4]}", name="Tirzepatide", price_cents=0, medical_review=None)[
        "id"
    ]
    belmar = pharmacy(ledger, "Belmar", "belmar", STATES, 1499)  # odd: the share rounds
    empower = pharmacy(ledger, "Empower", "dispensepro", ("TX", "CA"), 901)
    # Empower is cheaper landed but slower: the two rankings disagree.
    offer(ledger, belmar, sema, vial_price_cents=4500, fee_cents=350, turnaround_days=3, on_hand=500)
    offer(ledger, belmar, tirz, vial_price_cents=9000, fee_cents=500, turnaround_days=3, on_hand=0)
    offer(
        ledger,
        empower,
        sema,
        vial_price_cents=4900,
        fee_cents=0,
        turnaround_days=6,
        on_hand=100,
        product_code="DP-SEMA-25",
    )
    offer(ledger, empower, tirz, vial_price_cents=9900, fee_cents=125, turnaround_days=6, on_hand=100)
    clinic_id = admin(ledger, "/clinics", {"name": name})
    user = admin(ledger, f"/clinics/{clinic_id}/users", {"name": "Pat Nurse", "email": "nurse@example.test"})
    dr_wide = admin(
        ledger,
        f"/clinics/{clinic_id}/prescribers",
        {"name": "Dr Wide", "npi": npi("123456789"), "licensed_states": list(STATES)},
    )
    dr_texas = admin(
        ledger,
        f"/clinics/{clinic_id}/prescribers",
        {"name": "Dr Texas", "npi": npi("987654321"), "licensed_states": ["TX"]},
    )
    patients = []
    for i in range(n_patients):
        patient = ledger.patient(state=STATES[i % 4], cards=())
        admin(ledger, f"/clinics/{clinic_id}/patients", {"patient_id": patient["id"]})
        patients.append(patient)
    card = ok(
        ledger.call(
            "POST",
            "/clinic/payment-methods",
            "clinic",
            user,
            json={"gateway": "fake", "token": "pm_card_visa"},
        ),
        201,
    )["id"]
    return Clinic(ledger, clinic_id, user, card, sema, tirz, belmar, empower, dr_wide, dr_texas, patients)


def open_cart(c: Clinic) -> str:
    return ok(c.call("POST", "/clinic/carts"), 201)["id"]  # type: ignore[no-any-return]


def add(c: Clinic, cart_id: str, line: dict[str, Any]) -> str:
    """Add a line; its id is the one line of this patient and product in the returned cart."""
    cart = ok(c.call("POST", f"/clinic/carts/{cart_id}/lines", json=line), 201)
    return str(
        next(
            ln["line_id"]
            for ln in cart["lines"]
            if (ln["patient_id"], ln["product_id"]) == (line["patient_id"], line["product_id"])
        )
    )


def checkout(c: Clinic, cart_id: str, key: str, card: str | None = None) -> Any:
    return c.call(
        "POST",
        f"/clinic/carts/{cart_id}/checkout",
        json={"payment_method_id": card or c.card},
        headers={"Idempotency-Key": key},
    )


def test_sixty_patient_cart_three_planted_problems_then_one_payment_sixty_orders(ledger: Ledger) -> None:
    c = set_up(ledger, 60)
    assert (STATES[21 % 4], STATES[41 % 4]) == ("CA", "CA")
    cart_id = open_cart(c)
    lines: list[str] = []
    for i in range(60):
        if i == 7:  # planted: "as directed" is not a direction
            line = c.line(i, quantity=2, sig="Use as directed")
        elif i == 21:  # planted: a Texas-only prescriber for a California patient
            line = c.line(i, quantity=1, prescriber=c.dr_texas)
        elif i == 41:  # planted: Belmar has no tirzepatide on hand
            line = c.line(i, product=c.tirz, quantity=1)
        else:
            line = c.line(i, quantity=1 + i % 3)
        lines.append(add(c, cart_id, line))
    assert len(set(lines)) == 60
    bad_sig, unlicensed, no_stock = lines[7], lines[21], lines[41]

    # one validation call reports exactly the three problems, each on its own line
    validation = ok(c.call("POST", f"/clinic/carts/{cart_id}/validate"))
    found = sorted((p["line_id"], p["code"]) for p in validation["problems"])
    assert found == sorted(
        [
            (bad_sig, "SIG_INCOMPLETE"),
            (unlicensed, "PRESCRIBER_NOT_LICENSED_IN_STATE"),
            (no_stock, "OUT_OF_STOCK"),
        ]
    )
    assert validation["ok"] is False
    assert validation["line_count"] == 60
    assert ok(c.call("GET", f"/clinic/carts/{cart_id}"))["last_validation"] == validation

    # checkout is refused with the same problems, and nothing is charged
    refused = checkout(c, cart_id, "refused-1")
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert sorted((p["line_id"], p["code"]) for p in refused.json()["problems"]) == found
    assert ledger.gateway.charges() == []
    assert ok(c.call("GET", f"/clinic/carts/{cart_id}"))["status"] == "open"

    # fix the three lines: two edits, and the out-of-stock one removed and re-added at Empower
    ok(c.call("PATCH", f"/clinic/carts/{cart_id}/lines/{bad_sig}", json={"sig": GOOD_SIG}))
    ok(c.call("PATCH", f"/clinic/carts/{cart_id}/lines/{unlicensed}", json={"prescriber_id": c.dr_wide}))
    ok(c.call("DELETE", f"/clinic/carts/{cart_id}/lines/{no_stock}"))
    add(c, cart_id, c.line(41, product=c.tirz, quantity=1, pharmacy=c.empower.id))
    assert ok(c.call("POST", f"/clinic/carts/{cart_id}/validate")) == {
        "ok": True,
        "problems": [],
        "line_count": 60,
        "total_cents": validation["total_cents"] - (c.belmar.total(c.tirz, 1) - c.empower.total(c.tirz, 1)),
    }

    # every line's landed per-vial cost is the pharmacy's price + fees + shipping share
    cart = ok(c.call("GET", f"/clinic/carts/{cart_id}"))
    for ln in cart["lines"]:
        ph = c.pharmacy(ln["pharmacy_id"])
        offering = ph.offerings[ln["product_id"]]
        assert ln["vial_price_cents"] == offering["vial_price_cents"]
        assert ln["fee_cents"] == offering["fee_cents"]
        assert ln["landed_unit_cents"] == ph.landed(ln["product_id"], ln["quantity"])
        assert ln["line_total_cents"] == ph.total(ln["product_id"], ln["quantity"])
        assert ln["shipping_share_cents"] == ph.shipping_cents  # one line per patient: its own shipment
    expected_total = sum(
        c.pharmacy(ln["pharmacy_id"]).total(ln["product_id"], ln["quantity"]) for ln in cart["lines"]
    )
    assert cart["total_cents"] == expected_total

    # one checkout: one payment for the cart total, one order per line, each routed to its pharmacy
    r = checkout(c, cart_id, "checkout-1")
    body = ok(r, 201)
    charges = ledger.gateway.charges()
    assert len(charges) == 1
    assert charges[0].succeeded
    assert charges[0].amount_cents == body["invoice"]["amount_cents"] == cart["total_cents"]
    assert body["invoice"]["status"] == "PAID"
    assert body["payment"]["status"] == "succeeded"
    orders = body["orders"]
    assert len(orders) == 60
    assert sorted(body["invoice"]["order_ids"]) == sorted(o["id"] for o in orders)
    by_patient = {ln["patient_id"]: ln for ln in cart["lines"]}
    for order in orders:
        line = by_patient[order["patient_id"]]
        assert (order["source"], order["source_context"]) == ("CLINIC_CART", "CLINIC_ORDER")
        assert (
            order["product_id"],
            order["quantity"],
            order["pharmacy_id"],
            order["sig"],
            order["prescriber_id"],
        ) == (line["product_id"], line["quantity"], line["pharmacy_id"], line["sig"], line["prescriber_id"])
        assert order["unit_price_cents"] == line["vial_price_cents"] + line["fee_cents"]
        assert order["total_cents"] == line["line_total_cents"]
        assert order["status"] == "AWAITING_FULFILLMENT"  # paid, prescribed in-house, not yet accepted
    done = ok(c.call("GET", f"/clinic/carts/{cart_id}"))
    assert done["status"] == "checked_out"
    assert done["invoice_id"] == body["invoice"]["id"]

    # the fulfillment gate can resolve each order's partner adapter from its pharmacy record
    ctx = Context(Actor(kind="service", id="gate-test"), ORG, "corr", "cause")
    deps = ledger.runtime.deps
    for order in orders:
        route = clinic_service.route_clinic_order(deps, ctx, load(deps.store, "order", order["id"]).state)
        assert isinstance(route, ClinicRoute)
        assert route.partner == c.pharmacy(order["pharmacy_id"]).partner
    routed = {o["patient_id"]: o["pharmacy_id"] for o in orders}
    assert routed[c.patients[41]["id"]] == c.empower.id

    # the same key again: the first answer itself (Stripe's semantics), no second charge
    again = checkout(c, cart_id, "checkout-1")
    replay = ok(again, 201)
    assert again.headers.get("idempotent-replayed") == "true"
    assert replay == body
    assert len(ledger.gateway.charges()) == 1


def test_roles_and_ownership(ledger: Ledger) -> None:
    c = set_up(ledger, 1)
    other = set_up(ledger, 1, name="Other Clinic")
    cart_id = open_cart(c)
    add(c, cart_id, c.line(0))

    assert ledger.call("POST", "/clinic/carts", "staff").status_code == 403
    assert ledger.call("GET", f"/clinic/carts/{cart_id}", "staff").status_code == 403
    assert (
        ledger.call("POST", f"/clinic/carts/{cart_id}/validate", "patient", c.patients[0]["id"]).status_code
        == 403
    )
    mine = ledger.call("POST", "/clinic/admin/clinics", "clinic", c.user, json={"name": "Mine"})
    assert mine.status_code == 403
    assert ledger.client.get(f"/clinic/carts/{cart_id}").status_code == 401
    assert ledger.client.post("/clinic/carts").status_code == 401
    # another clinic's user: the cart, its lines and its checkout do not exist for them
    assert other.call("GET", f"/clinic/carts/{cart_id}").status_code == 404
    assert other.call("POST", f"/clinic/carts/{cart_id}/validate").status_code == 404
    assert checkout(other, cart_id, "steal").status_code == 404
    # nor may they put this clinic's patient or prescriber in their own cart
    theirs = open_cart(other)
    assert other.call("POST", f"/clinic/carts/{theirs}/lines", json=c.line(0)).status_code == 404
    assert ledger.gateway.charges() == []


def test_quickfill_and_reorder_fill_the_cart(ledger: Ledger) -> None:
    c = set_up(ledger, 4)
    quick = ok(
        c.call(
            "POST",
            "/clinic/quickfills",
            json={
                "name": "Sema start",
                "product_id": c.sema,
                "quantity": 2,
                "pharmacy_id": c.belmar.id,
                "sig": GOOD_SIG,
                "prescriber_id": c.dr_wide,
            },
        ),
        201,
    )
    cart_id = open_cart(c)
    ids = [p["id"] for p in c.patients[:3]]
    cart = ok(c.call("POST", f"/clinic/carts/{cart_id}/quickfills/{quick['id']}", json={"patient_ids": ids}))
    assert sorted(ln["patient_id"] for ln in cart["lines"]) == sorted(ids)
    assert {(ln["quantity"], ln["origin"]) for ln in cart["lines"]} == {(2, f"quickfill:{quick['id']}")}
    # the same template again for one patient merges into that patient's line
    cart = ok(
        c.call("POST", f"/clinic/carts/{cart_id}/quickfills/{quick['id']}", json={"patient_ids": ids[:1]})
    )
    assert sorted(ln["quantity"] for ln in cart["lines"]) == [2, 2, 4]

    placed = ok(checkout(c, cart_id, "q-1"), 201)
    past = next(o for o in placed["orders"] if o["patient_id"] == ids[1])
    next_cart = open_cart(c)
    cart = ok(c.call("POST", f"/clinic/carts/{next_cart}/reorder/{past['id']}"))
    (line,) = cart["lines"]
    assert (
        line["patient_id"],
        line["product_id"],
        line["quantity"],
        line["pharmacy_id"],
        line["sig"],
        line["prescriber_id"],
    ) == (ids[1], c.sema, 2, c.belmar.id, GOOD_SIG, c.dr_wide)
    assert line["origin"] == f"reorder:{past['id']}"


def test_pharmacy_options_by_cost_and_by_turnaround(ledger: Ledger) -> None:
    c = set_up(ledger, 3)  # TX, CA, NY
    texas, new_york = c.patients[0]["id"], c.patients[2]["id"]

    def options(patient_id: str, by: str, quantity: int) -> list[str]:
        q = f"product_id={c.sema}&patient_id={patient_id}&by={by}&quantity={quantity}"
        body = ok(c.call("GET", f"/clinic/pharmacy-options?{q}"))
        assert body["by"] == by
        for o in body["options"]:
            assert o["landed_unit_cents"] == c.pharmacy(o["pharmacy_id"]).landed(c.sema, quantity)
        return [o["pharmacy_id"] for o in body["options"]]

    both = (c.belmar, c.empower)

    def days(p: Pharmacy) -> int:
        return int(p.offerings[c.sema]["turnaround_days"])

    for quantity in (1, 3):
        by_cost = sorted(both, key=lambda p: (p.total(c.sema, quantity), days(p)))
        by_speed = sorted(both, key=lambda p: (days(p), p.total(c.sema, quantity)))
        assert options(texas, "cost", quantity) == [p.id for p in by_cost]
        assert options(texas, "turnaround", quantity) == [p.id for p in by_speed]
    assert [p.id for p in by_cost] != [p.id for p in by_speed]  # the data makes the two orders differ
    # Empower may not ship to New York
    assert options(new_york, "cost", 1) == options(new_york, "turnaround", 1) == [c.belmar.id]


def test_declined_card_keeps_the_orders_and_the_next_checkout_pays_that_invoice(ledger: Ledger) -> None:
    c = set_up(ledger, 2)
    failing = ok(
        c.call(
            "POST", "/clinic/payment-methods", json={"gateway": "fake", "token": "pm_card_chargeCustomerFail"}
        ),
        201,
    )["id"]
    cart_id = open_cart(c)
    add(c, cart_id, c.line(0))
    add(c, cart_id, c.line(1, quantity=2))

    declined = checkout(c, cart_id, "d-1", card=failing)
    assert declined.status_code == 402, declined.text
    problem = declined.json()
    assert problem["invoice"]["status"] == "OPEN"
    assert problem["payment"]["status"] == "failed"
    assert {o["status"] for o in problem["orders"]} == {"PENDING_PAYMENT"}

    paid = ok(checkout(c, cart_id, "d-2"), 200)
    assert paid["invoice"]["id"] == problem["invoice"]["id"]
    assert paid["invoice"]["status"] == "PAID"
    assert sorted(o["id"] for o in paid["orders"]) == sorted(o["id"] for o in problem["orders"])
    assert [ch.succeeded for ch in ledger.gateway.charges()] == [False, True]
