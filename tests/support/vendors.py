"""The ledger served over real loopback HTTP, with the Beluga and pharmacy sandboxes beside it.

The sandboxes deliver their signed webhooks to the ledger's own HTTP server, and the policy worker
runs in-process as `ledger serve` runs it: a test drives the whole path through HTTP alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from adapters.payments.fake import FakeGateway
from adapters.sandbox.beluga_server import create_beluga_sandbox
from adapters.sandbox.pharmacy_server import create_pharmacy_sandbox
from adapters.sandbox.runner import serve_in_thread
from api.app import create_app
from api.auth import issue_token
from api.runtime import Runtime
from ledger.bootstrap import Wiring, build_runtime
from ledger.fulfillment import start_policy_worker
from ledger.settings import Settings
from tests.support.deployed import Deployment, deployed_ledger, free_port

ORG = "org_vendors"
BELUGA_SECRET, PHARMACY_SECRET, STRIPE_SECRET = (
    "beluga-whsec-test",
    "pharmacy-whsec-test",
    "whsec_test_vendors",
)
BELUGA_KEY, PHARMACY_KEY = "beluga-key", "pharmacy-key"


def vendor_settings(var_dir: Path, database_url: str | None = None, **env: Any) -> Settings:
    values: dict[str, Any] = {
        "LEDGER_ENV": "local",
        "LEDGER_VAR_DIR": var_dir,
        "LEDGER_ORGANIZATION_ID": ORG,
        "LEDGER_SECRET": "vendor-test-secret-" + "y" * 20,
        "LEDGER_STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
        "LEDGER_BELUGA_WEBHOOK_SECRET": BELUGA_SECRET,
        "LEDGER_PHARMACY_WEBHOOK_SECRET": PHARMACY_SECRET,
        "LEDGER_BELUGA_API_KEY": BELUGA_KEY,
        "LEDGER_PHARMACY_API_KEY": PHARMACY_KEY,
        "DATABASE_URL": database_url,
    }
    values.update(env)
    settings, _ = Settings(**values).with_local_defaults()
    return settings


@dataclass
class Stack:
    url: str  # the ledger
    beluga_url: str
    pharmacy_url: str
    runtime: Runtime
    http: httpx.Client
    settings: Settings | None = None
    deployment: Deployment | None = None  # when the ledger runs as subprocesses

    def auth(self, role: str, subject: str | None = None) -> dict[str, str]:
        token = issue_token(
            self.runtime.token_secret, role=role, subject=subject, organization_id=ORG, now=datetime.now(UTC)
        )
        return {"Authorization": f"Bearer {token}"}

    def call(
        self, method: str, path: str, role: str, subject: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = {**self.auth(role, subject), **kw.pop("headers", {})}
        return self.http.request(method, self.url + path, headers=headers, **kw)

    def order(self, order_id: str) -> dict[str, Any]:
        r = self.call("GET", f"/orders/{order_id}", "staff")
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def wait_order(
        self,
        order_id: str,
        until: Callable[[dict[str, Any]], bool],
        timeout: float = 15.0,
        what: str = "condition",
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            order = self.order(order_id)
            if until(order):
                return order
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; order is {order['status']}: "
                    f"{order['medical_review']} {order['fulfillment']}"
                )
            time.sleep(0.05)

    def beluga(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, self.beluga_url + path, **kw)

    def pharmacy(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, self.pharmacy_url + path, **kw)


@contextmanager
def running_stack(
    var_dir: Path, database_url: str | None = None, *, worker: bool = True, deployed: bool = False
) -> Iterator[Stack]:
    """The ledger in this process (a thread serving HTTP, the policy worker beside it), or `deployed`:
    `ledger serve --processes 2` and two `ledger worker`s as subprocesses on PostgreSQL."""
    beluga_app = create_beluga_sandbox(None, BELUGA_SECRET, BELUGA_KEY)
    beluga = serve_in_thread(beluga_app)
    ledger_url: dict[str, str] = {}
    pharmacy = serve_in_thread(
        create_pharmacy_sandbox(
            lambda partner: f"{ledger_url['url']}/webhooks/pharmacies/{partner}",
            PHARMACY_SECRET,
            PHARMACY_KEY,
        )
    )
    settings = vendor_settings(
        var_dir, database_url, LEDGER_BELUGA_URL=beluga.url, LEDGER_PHARMACY_URL=pharmacy.url
    )
    runtime = build_runtime(settings, Wiring(gateways={"fake": FakeGateway()}))
    deployment: Deployment | None = None
    with ExitStack() as running:
        running.callback(pharmacy.stop)
        running.callback(beluga.stop)
        if deployed:
            # This process's runtime only reads (and mints tokens); the deployment does the work.
            running.callback(lambda: [hook() for hook in reversed(runtime.on_shutdown)])
            deployment = running.enter_context(deployed_ledger(settings, port=free_port()))
            ledger_url["url"] = deployment.url
        else:
            server = serve_in_thread(create_app(runtime))
            running.callback(server.stop)  # runs the app's shutdown hooks: the worker, then the stores
            ledger_url["url"] = server.url
            if worker:
                start_policy_worker(runtime, poll_seconds=0.05)
        beluga_app.state.sandbox.webhook_url = f"{ledger_url['url']}/webhooks/beluga"
        with httpx.Client(timeout=30.0) as http:
            yield Stack(ledger_url["url"], beluga.url, pharmacy.url, runtime, http, settings, deployment)


def seed_catalog(
    stack: Stack, *, med_id: str | None, requires_intake: bool = True, partner: str = "belmar"
) -> dict[str, Any]:
    """A product, a patient with a card that pays, and a paid original order, all over HTTP."""
    r = stack.call(
        "POST",
        "/products",
        "staff",
        json={
            "sku": "SEMA-2.5",
            "name": "Semaglutide 2.5 mg/mL",
            "price_cents": 29900,
            "kind": "medication",
            "requires_intake": requires_intake,
            "medical_review": {"visit_type": "glp1_refill", "med_id": med_id},
            "pharmacy": {"partner": partner, "product_code": "BLM-SEMA-25"},
        },
    )
    assert r.status_code == 201, r.text
    product = r.json()
    r = stack.call(
        "POST", "/patients", "staff", json={"name": "Ada Example", "email": "ada@example.com", "state": "TX"}
    )
    assert r.status_code == 201, r.text
    patient = r.json()
    r = stack.call(
        "POST",
        f"/patients/{patient['id']}/payment-methods",
        "staff",
        json={"gateway": "fake", "token": "pm_card_visa"},
    )
    assert r.status_code == 201, r.text
    card = r.json()["id"]
    r = stack.call(
        "POST",
        "/orders",
        "staff",
        json={"patient_id": patient["id"], "lines": [{"product_id": product["id"], "quantity": 2}]},
    )
    assert r.status_code == 201, r.text
    original = r.json()
    r = stack.call(
        "POST", f"/invoices/{original['invoice']['id']}/payments", "staff", json={"payment_method_id": card}
    )
    assert r.status_code == 200, r.text
    return {"product": product, "patient": patient, "card": card, "original": original["order"]}


def paid_refill(stack: Stack, seeded: dict[str, Any], key: str = "refill-1") -> dict[str, Any]:
    r = stack.call(
        "POST",
        f"/orders/{seeded['original']['id']}/refills",
        "patient",
        seeded["patient"]["id"],
        headers={"Idempotency-Key": key},
        json={"product_id": seeded["product"]["id"], "payment_method_id": seeded["card"]},
    )
    assert r.status_code == 201, r.text
    return r.json()["refill_order"]  # type: ignore[no-any-return]
