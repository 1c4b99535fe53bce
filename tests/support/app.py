"""A ledger wired as production wires it (ledger.bootstrap), on a temp SQLite file or a fresh
PostgreSQL database, with tokens for every role and helpers to seed a patient and an order."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from adapters.clock import Clock
from adapters.payments.fake import FakeGateway
from api.app import create_app
from api.auth import issue_token
from api.runtime import Runtime
from ledger.bootstrap import Wiring, build_runtime
from ledger.settings import Settings

ORG = "org_test"
_SKUS = count(1)  # a product's default SKU: SKUs are unique per organization, so none repeats


def ledger_settings(var_dir: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "LEDGER_ENV": "local",
        "LEDGER_VAR_DIR": var_dir,
        "LEDGER_ORGANIZATION_ID": ORG,
        "LEDGER_SECRET": "test-secret-" + "x" * 20,
        "LEDGER_STRIPE_WEBHOOK_SECRET": "whsec_test",
        "LEDGER_BELUGA_WEBHOOK_SECRET": "beluga-test-secret",
        "LEDGER_PHARMACY_WEBHOOK_SECRET": "pharmacy-test",
        "DATABASE_URL": database_url,
    }
    values.update(overrides)
    settings, _ = Settings(**values).with_local_defaults()
    return settings


@dataclass
class Ledger:
    runtime: Runtime
    client: TestClient
    gateway: FakeGateway
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, role: str, subject: str | None = None) -> str:
        return issue_token(
            self.runtime.token_secret, role=role, subject=subject, organization_id=ORG, now=datetime.now(UTC)
        )

    def auth(self, role: str, subject: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, subject)}"}

    def call(
        self,
        method: str,
        path: str,
        role: str,
        subject: str | None = None,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        return self.client.request(
            method, path, json=json, headers={**self.auth(role, subject), **(headers or {})}
        )

    # -- seeding through the public API, as a staff member would ---------------------------------
    def product(self, **fields: Any) -> dict[str, Any]:
        body = {
            "sku": f"SKU-{next(_SKUS)}",
            "name": "Product",
            "price_cents": 10000,
            "currency": "usd",
            "active": True,
            "kind": "medication",
            "requires_intake": False,
            "medical_review": {"visit_type": "refill", "med_id": "med-1"},
            "pharmacy": {"partner": "belmar", "product_code": "BLM-1"},
        }
        body.update(fields)
        r = self.call("POST", "/products", "staff", json=body)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def patient(self, state: str = "TX", cards: tuple[str, ...] = ("pm_card_visa",)) -> dict[str, Any]:
        r = self.call(
            "POST",
            "/patients",
            "staff",
            json={"name": "Pat Example", "email": "pat@example.com", "state": state},
        )
        assert r.status_code == 201, r.text
        patient = r.json()
        patient["cards"] = []
        for token in cards:
            r = self.call(
                "POST",
                f"/patients/{patient['id']}/payment-methods",
                "staff",
                json={"gateway": "fake", "token": token},
            )
            assert r.status_code == 201, r.text
            patient["cards"].append(r.json()["id"])
        return patient  # type: ignore[no-any-return]

    def placed_order(self, patient: dict[str, Any], lines: list[tuple[str, int]]) -> dict[str, Any]:
        """An order placed by staff and not yet paid: its `order` and open `invoice`."""
        r = self.call(
            "POST",
            "/orders",
            "staff",
            json={"patient_id": patient["id"], "lines": [{"product_id": p, "quantity": q} for p, q in lines]},
        )
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def pay(self, patient: dict[str, Any], invoice_id: str) -> None:
        """Pay an invoice by staff with the patient's first card."""
        r = self.call(
            "POST",
            f"/invoices/{invoice_id}/payments",
            "staff",
            json={"payment_method_id": patient["cards"][0]},
        )
        assert r.status_code == 200, r.text

    def paid_order(self, patient: dict[str, Any], lines: list[tuple[str, int]]) -> dict[str, Any]:
        placed = self.placed_order(patient, lines)
        self.pay(patient, placed["invoice"]["id"])
        return self.call("GET", f"/orders/{placed['order']['id']}", "staff").json()  # type: ignore[no-any-return]


@contextmanager
def running_ledger(
    var_dir: Path, database_url: str | None = None, *, clock: Clock | None = None, **overrides: Any
) -> Iterator[Ledger]:
    settings = ledger_settings(var_dir, database_url, **overrides)
    gateway = FakeGateway()
    runtime = build_runtime(settings, Wiring(gateways={"fake": gateway}, clock=clock))
    with TestClient(create_app(runtime), raise_server_exceptions=True) as client:
        yield Ledger(runtime, client, gateway, settings)
