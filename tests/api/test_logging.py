"""Log lines carry request and order ids, and never a patient's name, e-mail or medication."""

from __future__ import annotations

import json

from structlog.testing import capture_logs

from tests.api.test_refill_flow import refill
from tests.support.app import Ledger


def test_refill_flow_logs_ids_but_no_personal_health_information(sqlite_ledger: Ledger) -> None:
    ledger = sqlite_ledger
    product = ledger.product(name="Semaglutide 2.5 mg/mL", sku="SEMA-25")
    r = ledger.call(
        "POST",
        "/patients",
        "staff",
        json={"name": "Grace Hopper", "email": "grace@navy.example", "state": "VA"},
    )
    patient = r.json()
    card = ledger.call(
        "POST",
        f"/patients/{patient['id']}/payment-methods",
        "staff",
        json={"gateway": "fake", "token": "pm_card_chargeCustomerFail"},
    ).json()["id"]
    patient["cards"] = [card]
    placed = ledger.call(
        "POST",
        "/orders",
        "staff",
        json={"patient_id": patient["id"], "lines": [{"product_id": product["id"], "quantity": 1}]},
    ).json()

    with capture_logs() as logs:
        ledger.call(
            "POST", f"/invoices/{placed['invoice']['id']}/payments", "staff", json={"payment_method_id": card}
        )
        refill(ledger, patient, placed["order"]["id"], product["id"], card)

    text = json.dumps(logs, default=str)
    for secret in ("Grace", "Hopper", "grace@navy.example", "Semaglutide", "SEMA-25", 'VA"'):
        assert secret not in text
    requests = [entry for entry in logs if entry["event"] == "request"]
    assert requests and all(entry["status"] in (200, 402, 422) for entry in requests)
    outcomes = [entry for entry in logs if entry["event"] == "payment.outcome"]
    assert outcomes and outcomes[0]["invoice_id"] == placed["invoice"]["id"]
    assert outcomes[0]["succeeded"] is False and outcomes[0]["decline_code"] == "card_declined"
