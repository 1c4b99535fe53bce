"""Timer workers as real processes on PostgreSQL: a SIGKILL between a cycle's charge and its record,
and two workers firing the same due cycles at once. Each cycle is billed and charged exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.crashpoint import AFTER_CHARGE, CRASH_ENV
from adapters.eventstore import decode_notification
from adapters.payments.fake import FakeGateway
from domain.invoices import Invoice
from domain.subscriptions import Subscription
from domain.timers import TimerFired
from ledger.serving import settings_env
from service.unit import load
from tests.support.app import Ledger, running_ledger
from tests.support.clock import ManualClock
from tests.support.localstripe import start_localstripe

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
STRIPE_KEY = "sk_test_refill_ledger"
MONTH = timedelta(days=30)


@pytest.fixture(scope="module")
def localstripe_url() -> Iterator[str]:
    with start_localstripe() as url:
        yield url


def _worker(ledger: Ledger, now: datetime, **env: str) -> subprocess.Popen[bytes]:
    """`ledger worker --kind timers` in its own process, its clock starting at `now`."""
    return subprocess.Popen(
        [sys.executable, "-m", "ledger", "worker", "--kind", "timers"],
        cwd=ROOT,
        env={
            **os.environ,
            **settings_env(ledger.settings),
            "PYTHONPATH": str(ROOT),
            "LEDGER_NOW": now.isoformat(),
            "LEDGER_TIMER_POLL_SECONDS": "0.2",
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


def _wait_for(check: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the timer worker")


def _subscribe(ledger: Ledger, gateway: str, token: str) -> tuple[str, str]:
    """(subscription id, gateway customer) for a new patient paying with `token` at `gateway`."""
    product = ledger.product(price_cents=12300)
    patient = ledger.patient(cards=())
    body = {"gateway": gateway, "token": token}
    r = ledger.call("POST", f"/patients/{patient['id']}/payment-methods", "staff", json=body)
    assert r.status_code == 201, r.text
    card = r.json()
    r = ledger.call(
        "POST",
        "/subscriptions",
        "service",
        json={"patient_id": patient["id"], "product_id": product["id"], "payment_method_id": card["id"]},
    )
    assert r.status_code == 201, r.text
    assert card["id"]
    return r.json()["id"], patient["id"]


def _subscription(ledger: Ledger, sub_id: str) -> Subscription:
    state: Subscription = load(ledger.runtime.deps.store, "subscription", sub_id).state
    return state


def _cycle_invoice(ledger: Ledger, sub_id: str, cycle: int = 1) -> Invoice | None:
    sub = _subscription(ledger, sub_id)
    if cycle not in sub.cycles:
        return None
    invoice: Invoice = load(ledger.runtime.deps.store, "invoice", sub.cycles[cycle][1]).state
    return invoice


def _localstripe_charges(url: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{url}/v1/charges", params={"limit": 100}, auth=(STRIPE_KEY, ""))
    r.raise_for_status()
    return list(r.json()["data"])


def test_sigkill_after_the_cycle_charge_then_restart_charges_once(
    tmp_path: Path, pg_url: str, localstripe_url: str
) -> None:
    clock = ManualClock()
    start = clock()
    stripe = {
        "LEDGER_PAYMENT_GATEWAY": "stripe",
        "LEDGER_STRIPE_API_KEY": STRIPE_KEY,
        "LEDGER_STRIPE_API_BASE": localstripe_url,
    }
    with running_ledger(tmp_path, pg_url, clock=clock, **stripe) as ledger:
        sub_id, _ = _subscribe(ledger, "stripe", "pm_card_visa")
        due = start + MONTH
        # The worker bills cycle 1, charges it at localstripe, and is killed before recording it.
        crashing = _worker(ledger, due + timedelta(seconds=1), **{CRASH_ENV: AFTER_CHARGE})
        try:
            assert crashing.wait(60) == -signal.SIGKILL
        finally:
            _stop(crashing)
        invoice = _cycle_invoice(ledger, sub_id)
        assert invoice is not None and invoice.status == "OPEN"
        assert [a.outcome for a in invoice.attempts] == ["pending"]
        assert [c["status"] for c in _localstripe_charges(localstripe_url)] == ["succeeded"]

        # Restarted a few minutes later (past the charge's in-flight window): the charge timer asks
        # localstripe under the attempt's key, finds the charge, and records it.
        restarted = _worker(ledger, due + timedelta(minutes=5))
        try:
            _wait_for(lambda: _paid(ledger, sub_id))
        finally:
            _stop(restarted)
        paid = _cycle_invoice(ledger, sub_id)
        assert paid is not None and [a.outcome for a in paid.attempts] == ["succeeded"]
        assert list(_subscription(ledger, sub_id).cycles) == [1]  # one cycle order
        assert [c["status"] for c in _localstripe_charges(localstripe_url)] == ["succeeded"]  # one charge
        assert _subscription(ledger, sub_id).dunning is None


def test_two_timer_workers_at_once_bill_each_due_cycle_once(tmp_path: Path, pg_url: str) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    with running_ledger(tmp_path, pg_url, clock=clock, LEDGER_TIMER_PAGE=1) as ledger:
        # Enough cycles that one worker alone takes longer than the two clocks can drift apart: each
        # clock starts when its process is up (the second waits for the first's start-up lock), and
        # one worker fires a cycle in ~30 ms, 24 of them before a late second one woke.
        subs = [_subscribe(ledger, "fake", "pm_card_visa")[0] for _ in range(72)]
        due = clock() + MONTH
        # Both start before the cycles come due (their clocks run on from LEDGER_NOW), so both are
        # polling when the due time arrives and contend for the same rows.
        lead = timedelta(seconds=6)
        spawned = time.monotonic()
        first = _worker(ledger, due - lead)
        second = _worker(ledger, due - lead + timedelta(seconds=time.monotonic() - spawned))
        try:
            _wait_for(lambda: all(_paid(ledger, s) for s in subs), 90)
        finally:
            _stop(first)
            _stop(second)

        store = ledger.runtime.deps.store
        for sub_id in subs:
            sub = _subscription(ledger, sub_id)
            assert list(sub.cycles) == [1] and not sub.not_billed
            invoice = _cycle_invoice(ledger, sub_id)
            assert invoice is not None and [a.outcome for a in invoice.attempts] == ["succeeded"]
        charges = FakeGateway(ledger_path=ledger.settings.var_dir / "fake-gateway.sqlite").charges()
        billed = sorted(c.metadata["invoice_id"] for c in charges if c.succeeded)
        assert len(billed) == len(set(billed)) == len(subs)
        # Each cycle timer fired once, and both workers did some of the firing.
        fired = [decode_notification(n).fact for n in store.iter_notifications(topics=("TimerFired",))]
        fired_by = [f.fired_by for f in fired if isinstance(f, TimerFired)]
        assert len(fired_by) == len(subs)  # one firing per cycle timer (charges closed theirs unfired)
        assert {f.rsplit(":", 1)[1] for f in fired_by} == {str(first.pid), str(second.pid)}


def _paid(ledger: Ledger, sub_id: str) -> bool:
    invoice = _cycle_invoice(ledger, sub_id)
    return invoice is not None and invoice.status == "PAID"
