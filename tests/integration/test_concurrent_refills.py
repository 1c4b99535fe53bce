"""50 concurrent identical refill requests against PostgreSQL, over real HTTP.

Exactly one refill order must exist afterwards and at most one charge may succeed, whether the
requests share one Idempotency-Key (a client resending) or each carries its own (double clicks
from several tabs).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from adapters.eventstore import decode_notification
from adapters.payments.fake import FakeGateway
from adapters.sandbox.runner import serve_in_thread
from api.app import create_app
from ledger.bootstrap import Wiring, build_runtime
from tests.support.app import ORG, ledger_settings

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("keys", ["same-key", "key-per-request"])
def test_fifty_concurrent_refills_make_one_order_and_at_most_one_charge(
    pg_url: str, tmp_path: Path, keys: str
) -> None:
    from datetime import UTC, datetime

    from api.auth import issue_token

    gateway = FakeGateway()
    runtime = build_runtime(ledger_settings(tmp_path, pg_url), Wiring(gateways={"fake": gateway}))

    def token(role: str, sub: str | None = None) -> str:
        return issue_token(
            runtime.token_secret,
            role=role,
            subject=sub,
            organization_id=ORG,
            now=datetime.now(UTC),
        )

    with (
        serve_in_thread(create_app(runtime)) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        staff = {"Authorization": f"Bearer {token('staff')}"}
        product = http.post(
            "/products",
            headers=staff,
            json={"sku": "SEMA", "name": "Semaglutide", "price_cents": 29900, "kind": "medication"},
        ).json()
        patient = http.post(
            "/patients", headers=staff, json={"name": "Pat", "email": "pat@example.com", "state": "TX"}
        ).json()
        card = http.post(
            f"/patients/{patient['id']}/payment-methods",
            headers=staff,
            json={"gateway": "fake", "token": "pm_card_visa"},
        ).json()["id"]
        placed = http.post(
            "/orders",
            headers=staff,
            json={"patient_id": patient["id"], "lines": [{"product_id": product["id"], "quantity": 1}]},
        ).json()
        assert (
            http.post(
                f"/invoices/{placed['invoice']['id']}/payments",
                headers=staff,
                json={"payment_method_id": card},
            ).status_code
            == 200
        )
        charges_before = gateway.charges_succeeded()
        patient_auth = {"Authorization": f"Bearer {token('patient', patient['id'])}"}

        def request(i: int) -> int:
            key = "double-click" if keys == "same-key" else f"tab-{i}"
            r = http.post(
                f"/orders/{placed['order']['id']}/refills",
                headers={**patient_auth, "Idempotency-Key": key},
                json={"product_id": product["id"], "payment_method_id": card},
            )
            return r.status_code

        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(request, range(50)))
        store = runtime.deps.store
        refills = [decode_notification(n) for n in store.iter_notifications(topics=["RefillRequested"])]
        refill_orders = [
            n for n in store.iter_notifications(topics=["OrderPlaced"]) if b"PATIENT_REFILL" in n.state
        ]

    assert all(s in (200, 201, 409) for s in statuses), statuses
    assert len(refills) == 1, [r.fact for r in refills]
    assert statuses.count(201) == 1
    assert len(refill_orders) == 1
    assert gateway.charges_succeeded() - charges_before <= 1
