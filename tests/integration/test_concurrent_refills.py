"""50 concurrent identical refill requests against PostgreSQL, over real HTTP.

Exactly one refill order must exist afterwards and at most one charge may succeed, whether the
requests share one Idempotency-Key (a client resending) or each carries its own (double clicks
from several tabs) — served by one process, or raced across the two processes of
`ledger serve --processes 2` (with two `ledger worker`s beside them).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from adapters.eventstore import LedgerStore, decode_notification
from adapters.payments.fake import FakeGateway
from adapters.sandbox.runner import serve_in_thread
from api.app import create_app
from api.runtime import Runtime
from ledger.bootstrap import Wiring, build_runtime
from ledger.settings import Settings
from tests.support.app import ORG, ledger_settings
from tests.support.deployed import Deployment, deployed_ledger

pytestmark = pytest.mark.postgres


def succeeded_payments(store: LedgerStore) -> int:
    return sum(1 for _ in store.iter_notifications(topics=["PaymentSucceeded"]))


@contextmanager
def served(runtime: Runtime, settings: Settings, deployed: bool) -> Iterator[tuple[str, Deployment | None]]:
    if deployed:
        with deployed_ledger(settings) as deployment:
            yield deployment.url, deployment
    else:
        with serve_in_thread(create_app(runtime)) as server:
            yield server.url, None


@pytest.mark.parametrize("served_by", ["one process", "two processes"])
@pytest.mark.parametrize("keys", ["same-key", "key-per-request"])
def test_fifty_concurrent_refills_make_one_order_and_at_most_one_charge(
    pg_url: str, tmp_path: Path, keys: str, served_by: str
) -> None:
    from datetime import UTC, datetime

    from api.auth import issue_token

    gateway = FakeGateway()
    settings = ledger_settings(tmp_path, pg_url)
    runtime = build_runtime(settings, Wiring(gateways={"fake": gateway}))

    def token(role: str, sub: str | None = None) -> str:
        return issue_token(
            runtime.token_secret,
            role=role,
            subject=sub,
            organization_id=ORG,
            now=datetime.now(UTC),
        )

    with (
        served(runtime, settings, served_by == "two processes") as (url, deployment),
        httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_connections=50)) as http,
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
        payments_before = succeeded_payments(runtime.deps.store)
        patient_auth = {"Authorization": f"Bearer {token('patient', patient['id'])}"}

        def request(i: int) -> tuple[int, str | None]:
            key = "double-click" if keys == "same-key" else f"tab-{i}"
            r = http.post(
                f"/orders/{placed['order']['id']}/refills",
                headers={**patient_auth, "Idempotency-Key": key},
                json={"product_id": product["id"], "payment_method_id": card},
            )
            return r.status_code, r.json()["refill_order"]["id"] if r.status_code == 201 else None

        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(request, range(50)))
        statuses = [status for status, _ in answers]
        store = runtime.deps.store
        refills = [decode_notification(n) for n in store.iter_notifications(topics=["RefillRequested"])]
        refill_orders = [
            n for n in store.iter_notifications(topics=["OrderPlaced"]) if b"PATIENT_REFILL" in n.state
        ]
        payments = succeeded_payments(store) - payments_before
        served_from = deployment.api_pids_serving("/orders/{order_id}/refills") if deployment else {0}
    for hook in reversed(runtime.on_shutdown):
        hook()

    assert all(s in (200, 201, 409) for s in statuses), statuses
    assert len(refills) == 1, [r.fact for r in refills]
    created = {order for status, order in answers if status == 201}
    # One 201 per key: a client resending its key is answered the first response again (Stripe's rule)
    assert len(created) == 1
    assert statuses.count(201) == 1 if keys == "key-per-request" else statuses.count(201) >= 1
    assert len(refill_orders) == 1
    assert gateway.charges_succeeded() - charges_before <= 1  # this process's gateway (one process)
    assert payments <= 1
    assert len(served_from) == (2 if deployment else 1)  # the race ran across both API processes
