"""After Beluga cancels a consult, the way forward the order offers is one the API accepts (issue 14.6).

Over real HTTP with the Beluga and pharmacy sandboxes: a paid refill is submitted, Beluga cancels
the consult, the order says "start a new consult", a retry of the cancelled masterId is refused
with a 409 that names the cause, and the new consult goes out under a new masterId with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from tests.support.vendors import Stack, paid_refill, running_stack, seed_catalog


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    with running_stack(tmp_path, url) as s:
        yield s


def _canceled(stack: Stack) -> dict[str, Any]:
    seeded = seed_catalog(stack, med_id="med-sema", requires_intake=False)
    refill = paid_refill(stack, seeded)
    order = stack.wait_order(refill["id"], lambda o: o["medical_review"]["status"] == "submitted")
    master = order["medical_review"]["master_id"]
    r = stack.beluga("POST", f"/_sandbox/visits/{master}/events/CONSULT_CANCELED")
    assert r.status_code < 300, r.text
    return stack.wait_order(refill["id"], lambda o: o["medical_review"]["status"] == "canceled")


def test_a_cancelled_consult_offers_a_new_consult_that_the_api_accepts(stack: Stack) -> None:
    order = _canceled(stack)
    first_master = order["medical_review"]["master_id"]
    cs = stack.call("GET", f"/cs/orders/{order['id']}", "cs").json()
    (blocker,) = cs["waiting_for"]
    assert blocker["code"] == "CONSULT_CANCELED" and blocker["action"] == "START_NEW_CONSULT"
    assert f"/orders/{order['id']}/medical-review/new-consult" in blocker["fix"]
    assert "canceled" in cs["status_explanation"].lower()
    mine = stack.call("GET", f"/orders/{order['id']}", "patient", order["patient_id"]).json()
    assert mine["status_explanation"] == "Your consultation was canceled."

    retry = stack.call("POST", f"/orders/{order['id']}/medical-review/retry", "ops")
    assert retry.status_code == 409
    assert retry.json()["reasons"] == ["CONSULT_CANCELED"]

    r = stack.call(
        "POST",
        f"/orders/{order['id']}/medical-review/new-consult",
        "cs",
        json={"reason": "patient rescheduled"},
    )
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["medical_review"]["status"] == "submitted"
    assert after["medical_review"]["master_id"] == first_master + ".2"
    visits = {v["masterId"] for v in stack.beluga("GET", "/_sandbox/visits").json()}
    assert {first_master, first_master + ".2"} <= visits
    started = [
        e.fact
        for e in stack.runtime.deps.store.stream(UUID(order["id"]))
        if e.fact.TYPE == "NewConsultStarted"
    ]
    assert [(f.reason, f.consult_number) for f in started] == [("patient rescheduled", 2)]  # type: ignore[attr-defined]

    # The prescription of the new consult reaches the order through its own masterId.
    r = stack.beluga("POST", f"/_sandbox/visits/{first_master}.2/rx-written", json={"medIds": ["med-sema"]})
    assert r.status_code < 300, r.text
    done = stack.wait_order(order["id"], lambda o: o["medical_review"]["status"] == "rx_written")
    assert done["medical_review"]["prescribed_med_ids"] == ["med-sema"]


def test_a_new_consult_is_refused_while_the_consult_is_open(stack: Stack) -> None:
    seeded = seed_catalog(stack, med_id="med-sema", requires_intake=False)
    refill = paid_refill(stack, seeded)
    stack.wait_order(refill["id"], lambda o: o["medical_review"]["status"] == "submitted")
    r = stack.call(
        "POST", f"/orders/{refill['id']}/medical-review/new-consult", "ops", json={"reason": "just because"}
    )
    assert r.status_code == 409
    assert r.json()["reasons"] == ["CONSULT_NOT_CANCELED"]
    no_reason = stack.call("POST", f"/orders/{refill['id']}/medical-review/new-consult", "ops", json={})
    assert no_reason.status_code == 422
    patient = stack.call(
        "POST",
        f"/orders/{refill['id']}/medical-review/new-consult",
        "patient",
        seeded["patient"]["id"],
        json={"reason": "x"},
    )
    assert patient.status_code == 403
