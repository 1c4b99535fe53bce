"""Dead letters per order, never per stream (issue 10, defect 6).

- one unreachable pharmacy no longer stops every later submission: its order is dead-lettered
  (`PolicyStepFailed`: step, error, attempts, next try) and the other partner's order goes through;
- the dead letter is retried with backoff, never dropped however often it fails, shown to ops, and
  closed (`PolicyStepRecovered`) once the partner answers;
- `ledger replay redrive ORDER` retries it by hand.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.pharmacy import pharmacy_client
from domain.catalog import MedicalReviewMapping, PharmacyMapping
from domain.explain import blockers
from domain.orders import Order
from service import catalog, orders
from service.unit import load
from tests.integration.test_fulfillment import World, make_world
from tests.support.vendors import ORG, PHARMACY_KEY, vendor_settings

DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port: connection refused at once


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    w = make_world(tmp_path, url)
    yield w
    w.pharmacy.stop()
    w.runtime.shutdown()


def _order(w: World, order_id: str) -> Order:
    state: Order = load(w.runtime.deps.store, "order", order_id).state
    return state


def _belmar_at(w: World, url: str) -> None:
    w.runtime.policies.pharmacies = {
        "belmar": pharmacy_client("belmar", url, PHARMACY_KEY),
        "dispensepro": pharmacy_client("dispensepro", w.pharmacy.url, PHARMACY_KEY),
    }


def _dispensepro_order(w: World) -> str:
    deps = w.runtime.deps
    product = catalog.add_product(
        deps,
        w.staff,
        sku="TIRZ",
        name="Tirzepatide",
        price_cents=39900,
        currency="usd",
        active=True,
        kind="medication",
        requires_intake=False,
        medical_review=MedicalReviewMapping(visit_type="glp1", med_id="med-tirz"),
        pharmacy=PharmacyMapping(partner="dispensepro", product_code="DP-TIRZ"),
    )
    placed = orders.place_order(deps, w.staff, w.patient_id, [(product.id, 1)])
    orders.pay_invoice(deps, w.staff, placed.invoice.id, w.card, "pay-dp")
    w.rx(placed.order.id, "med-tirz", event_id="evt-rx-dp")
    return placed.order.id


def test_one_partner_down_delays_only_its_orders_which_are_retried_until_it_answers(world: World) -> None:
    _belmar_at(world, DEAD)
    belmar = world.refill()
    world.rx(belmar, "med-sema")
    dispensepro = _dispensepro_order(world)
    world.settle()

    # The other partner's order went through although belmar's came first in the stream.
    assert [(o["partner"], o["referenceId"]) for o in world.at_pharmacy()] == [("dispensepro", dispensepro)]
    order = _order(world, belmar)
    (failed,) = order.failed_steps
    assert (failed.step, failed.attempts) == ("pharmacy_submitter", 1)
    assert "could not be reached" in failed.error or "unreachable" in failed.error
    assert failed.next_try_at > datetime.now(UTC)
    assert [b.code for b in blockers(order, None)] == ["POLICY_STEP_FAILED"]  # what /ops/stuck shows

    # Still down: every retry is recorded on the order, with a longer wait each time; never dropped.
    waits = []
    for minutes in range(1, 8):
        world.later(timedelta(minutes=minutes * 20))
        world.settle()
        (failed,) = _order(world, belmar).failed_steps
        waits.append(failed.next_try_at - world.runtime.deps.clock())
    assert failed.attempts == 8
    assert waits == sorted(waits) and waits[-1] > waits[0]
    assert world.types(belmar).count("PolicyStepFailed") == 8

    _belmar_at(world, world.pharmacy.url)
    world.later(timedelta(hours=4))
    world.settle()
    order = _order(world, belmar)
    assert order.pharmacy_submitted and order.failed_steps == ()
    assert world.types(belmar).count("PolicyStepRecovered") == 1
    assert sorted(o["referenceId"] for o in world.at_pharmacy()) == sorted([belmar, dispensepro])


def test_redrive_retries_an_orders_failed_step_by_hand(tmp_path: Path) -> None:
    w = make_world(tmp_path, None)
    try:
        _belmar_at(w, DEAD)
        order_id = w.refill()
        w.rx(order_id, "med-sema")
        w.settle()
        assert [f.step for f in _order(w, order_id).failed_steps] == ["pharmacy_submitter"]

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
            "LEDGER_PHARMACY_URL": w.pharmacy.url,  # the partner is back
            "LEDGER_PHARMACY_API_KEY": PHARMACY_KEY,
        }
        for name in ("DATABASE_URL", "LEDGER_BELUGA_URL", "LEDGER_TEST_CRASH_AT"):
            env.pop(name, None)
        number = _order(w, order_id).number
        done = subprocess.run(
            [sys.executable, "-c", "from ledger.cli import main; main()", "replay", "redrive", number],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "pharmacy_submitter: went through" in done.stdout
        order = _order(w, order_id)
        assert order.pharmacy_submitted and order.failed_steps == ()
        assert [o["referenceId"] for o in w.at_pharmacy()] == [order_id]
    finally:
        w.pharmacy.stop()
        w.runtime.shutdown()
