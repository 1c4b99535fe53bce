"""The gate and the pharmacy submitter against a real store and a real (loopback) pharmacy sandbox.

- a paid refill without RX_WRITTEN is never sent to a pharmacy, whatever else arrives;
- an RX for another medId holds and flags the order for CS;
- a worker SIGKILLed between the pharmacy call and its record, then restarted, leaves exactly one
  order at the pharmacy and one record of it;
- a pharmacy that is down is retried under the same key, its outage recorded once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from adapters.beluga import BelugaWebhook, PrescribedMed
from adapters.payments.fake import FakeGateway
from adapters.pharmacy import PharmacyWebhook
from adapters.sandbox.pharmacy_server import create_pharmacy_sandbox
from adapters.sandbox.runner import RunningServer, serve_in_thread
from api.runtime import Runtime
from domain import gate
from domain.catalog import MedicalReviewMapping, PharmacyMapping
from domain.events import Actor
from domain.medical_review import master_id_for
from domain.status import order_status
from ledger.bootstrap import Wiring, build_runtime
from service import catalog, orders, refills, webhooks
from service.policies import run_until_idle
from service.unit import Context, load
from tests.support.vendors import ORG, PHARMACY_KEY, PHARMACY_SECRET, vendor_settings

NOW = "2025-01-02T03:04:05+00:00"


@dataclass
class World:
    runtime: Runtime
    pharmacy: RunningServer
    staff: Context
    patient_id: str
    card: str
    product_id: str

    def refill(self, key: str = "k1") -> str:
        original = orders.place_order(self.runtime.deps, self.staff, self.patient_id, [(self.product_id, 1)])
        orders.pay_invoice(self.runtime.deps, self.staff, original.invoice.id, self.card, f"pay-{key}")
        patient_ctx = Context(Actor(kind="patient", id=self.patient_id), ORG, key, key)
        outcome = refills.request_refill(
            self.runtime.deps,
            patient_ctx,
            self.patient_id,
            original.order.id,
            self.product_id,
            self.card,
            key,
        )
        assert outcome.invoice.status == "PAID"
        return outcome.order.id

    def types(self, order_id: str) -> list[str]:
        return [e.fact.TYPE for e in self.runtime.deps.store.stream(UUID(order_id))]

    def at_pharmacy(self) -> list[dict[str, Any]]:
        return httpx.get(self.pharmacy.url + "/_sandbox/orders").json()  # type: ignore[no-any-return]

    def rx(self, order_id: str, med_id: str, event_id: str = "evt-rx") -> str:
        return webhooks.apply_beluga(
            self.runtime.deps,
            BelugaWebhook(
                "RX_WRITTEN", event_id, master_id_for(order_id), _t(), (PrescribedMed(med_id, "x"),), None
            ),
        )

    def settle(self) -> None:
        run_until_idle(self.runtime.policies)

    def later(self, by: timedelta) -> None:
        """Move the ledger's clock on, so dead letters waiting out their backoff are due."""
        moved = datetime.now(UTC) + by
        self.runtime.deps.clock = lambda: moved


def _t() -> Any:
    from datetime import datetime

    return datetime.fromisoformat(NOW)


def make_world(tmp_path: Path, database_url: str | None, *, env: dict[str, str] | None = None) -> World:
    pharmacy = serve_in_thread(create_pharmacy_sandbox(None, PHARMACY_SECRET, PHARMACY_KEY))
    settings = vendor_settings(tmp_path, database_url, LEDGER_PHARMACY_URL=pharmacy.url, **(env or {}))
    runtime = build_runtime(settings, Wiring(gateways={"fake": FakeGateway()}))
    staff = Context(Actor(kind="staff", id="s1"), ORG, "c", "c")
    deps = runtime.deps
    product = catalog.add_product(
        deps,
        staff,
        sku="SEMA",
        name="Semaglutide",
        price_cents=29900,
        currency="usd",
        active=True,
        kind="medication",
        requires_intake=False,
        medical_review=MedicalReviewMapping(visit_type="glp1", med_id="med-sema"),
        pharmacy=PharmacyMapping(partner="belmar", product_code="BLM-SEMA"),
    )
    patient = catalog.register_patient(deps, staff, name="Pat", email="pat@example.com", state="TX")
    patient, card = catalog.save_payment_method(
        deps, staff, patient.id, gateway="fake", token="pm_card_visa", label=None
    )
    return World(runtime, pharmacy, staff, patient.id, card, product.id)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    w = make_world(tmp_path, url)
    yield w
    w.pharmacy.stop()
    for hook in reversed(w.runtime.on_shutdown):
        hook()


def test_a_paid_refill_without_rx_written_never_reaches_a_pharmacy(world: World) -> None:
    order_id = world.refill()
    deps = world.runtime.deps
    order = load(deps.store, "order", order_id).state
    world.settle()  # no Beluga configured here: the submission is recorded as failed, visibly
    # Everything but a prescription: consult concluded, repeated payment news, pharmacy "status".
    webhooks.apply_beluga(
        deps, BelugaWebhook("CONSULT_CONCLUDED", "evt-c", master_id_for(order_id), _t(), (), "approved")
    )
    for status in ("accepted", "shipped"):
        outcome = webhooks.apply_pharmacy(
            deps,
            "belmar",
            PharmacyWebhook(f"evt-{status}", order_id, "LF-1", status, _t(), None, "UPS", "1Z"),
        )
        assert outcome == "ignored"  # we never released it: a pharmacy event for it is not believed
    world.settle()
    order = load(deps.store, "order", order_id).state
    assert order_status(order) == "AWAITING_SCRIPT"
    assert not order.fulfillment_released
    assert set(order.held_by) >= {gate.RX_CONFIRMED}
    assert "FulfillmentReleased" not in world.types(order_id)
    assert world.at_pharmacy() == []


def test_rx_for_another_med_id_does_not_release_and_flags_the_order(world: World) -> None:
    order_id = world.refill()
    world.settle()
    assert world.rx(order_id, "med-tirz") == "applied"
    world.settle()
    deps = world.runtime.deps
    order = load(deps.store, "order", order_id).state
    assert not order.fulfillment_released
    assert gate.RX_MEDID_MISMATCH in order.held_by
    product = load(deps.store, "product", world.product_id).state
    assert gate.rx_mismatch(order, {world.product_id: product})
    assert world.at_pharmacy() == []
    # The right prescription then releases, once.
    world.rx(order_id, "med-sema", event_id="evt-rx-2")
    world.settle()
    world.settle()
    assert world.types(order_id).count("FulfillmentReleased") == 1
    assert [(o["referenceId"], o["submissions"]) for o in world.at_pharmacy()] == [(order_id, 1)]


def test_a_pharmacy_outage_is_recorded_once_and_retried_under_the_same_key(world: World) -> None:
    order_id = world.refill()
    world.rx(order_id, "med-sema")
    httpx.post(world.pharmacy.url + "/_sandbox/fail-next", json={"status": 503, "times": 2})
    world.settle()  # released; the call answered 503: dead-lettered on the order, retried with backoff
    order = load(world.runtime.deps.store, "order", order_id).state
    assert order.fulfillment_released
    assert not order.pharmacy_submitted
    assert world.types(order_id).count("PharmacySubmissionFailed") == 1
    assert world.at_pharmacy() == []
    for minutes in (1, 2):  # the first retry meets the second 503, the next one goes through
        world.later(timedelta(minutes=minutes))
        world.settle()
    order = load(world.runtime.deps.store, "order", order_id).state
    assert order.pharmacy_submitted
    assert world.types(order_id).count("PharmacySubmissionFailed") == 1
    assert [(o["referenceId"], o["submissions"]) for o in world.at_pharmacy()] == [(order_id, 1)]
    assert order_status(order) == "AWAITING_FULFILLMENT"


def _worker(tmp_path: Path, pharmacy_url: str, *, crash: bool) -> subprocess.CompletedProcess[str]:
    settings = vendor_settings(tmp_path)
    env = {
        **os.environ,
        "LEDGER_ENV": "local",
        "LEDGER_VAR_DIR": str(tmp_path),
        "LEDGER_ORGANIZATION_ID": ORG,
        "LEDGER_SECRET": settings.secret or "",
        "LEDGER_STRIPE_WEBHOOK_SECRET": "x",
        "LEDGER_BELUGA_WEBHOOK_SECRET": "x",
        "LEDGER_PHARMACY_WEBHOOK_SECRET": "x",
        "LEDGER_PHARMACY_URL": pharmacy_url,
        "LEDGER_PHARMACY_API_KEY": PHARMACY_KEY,
    }
    env.pop("DATABASE_URL", None)
    env.pop("LEDGER_BELUGA_URL", None)
    if crash:
        env["LEDGER_TEST_CRASH_AT"] = "after_pharmacy_call"
    else:
        env.pop("LEDGER_TEST_CRASH_AT", None)
    return subprocess.run(
        [sys.executable, "-c", "from ledger.cli import main; main()", "worker", "--until-idle"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sigkill_between_the_pharmacy_call_and_its_record_leaves_exactly_one_pharmacy_order(
    tmp_path: Path,
) -> None:
    w = make_world(tmp_path, None)
    try:
        order_id = w.refill()
        w.rx(order_id, "med-sema")  # everything the gate needs; no policy has run yet

        crashed = _worker(tmp_path, w.pharmacy.url, crash=True)
        assert crashed.returncode == -9, crashed.stderr  # killed right after the pharmacy answered
        assert [(o["referenceId"], o["submissions"]) for o in w.at_pharmacy()] == [(order_id, 1)]
        types = w.types(order_id)
        assert types.count("FulfillmentReleased") == 1
        assert "PharmacyOrderSubmitted" not in types  # the call happened, its record did not

        restarted = _worker(tmp_path, w.pharmacy.url, crash=False)
        assert restarted.returncode == 0, restarted.stderr
        at_pharmacy = w.at_pharmacy()
        assert [(o["referenceId"], o["submissions"]) for o in at_pharmacy] == [
            (order_id, 2)
        ]  # same key, deduped
        types = w.types(order_id)
        assert types.count("FulfillmentReleased") == 1
        assert types.count("PharmacyOrderSubmitted") == 1
        order = load(w.runtime.deps.store, "order", order_id).state
        assert order.pharmacy_external_id == at_pharmacy[0]["orderId"]

        again = _worker(tmp_path, w.pharmacy.url, crash=False)  # a third run finds nothing to do
        assert again.returncode == 0, again.stderr
        assert w.at_pharmacy()[0]["submissions"] == 2
    finally:
        w.pharmacy.stop()
        for hook in reversed(w.runtime.on_shutdown):
            hook()
