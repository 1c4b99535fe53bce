"""The demo's vendor sandboxes remember their visits and orders across a `ledger serve` restart."""

from __future__ import annotations

from pathlib import Path

import httpx

from adapters.beluga import BelugaClient, RequestedMed, VisitSubmission
from ledger.fulfillment import start_demo_vendors
from ledger.settings import Settings


def _settings(var_dir: Path) -> Settings:
    settings, _ = Settings(LEDGER_ENV="local", LEDGER_VAR_DIR=var_dir).with_local_defaults()
    return settings


def test_a_restarted_demo_finds_its_sandbox_visits_and_orders(tmp_path: Path) -> None:
    first, vendors = start_demo_vendors(_settings(tmp_path), "127.0.0.1", 1)
    assert vendors is not None and first.beluga_url and first.pharmacy_url
    visit = VisitSubmission(
        master_id="mr-order-1",
        visit_type="glp1",
        patient_ref="patient-1",
        patient_state="TX",
        meds=(RequestedMed("med-sema", "Semaglutide", 1),),
        pharmacy="belmar",
        order_id="order-1",
    )
    with httpx.Client(timeout=10) as http:
        BelugaClient(first.beluga_url, first.beluga_api_key or "", http).submit_visit(visit)
        moved = http.post(f"{first.pharmacy_url}/_sandbox/fail-next", json={"status": 503, "times": 1})
        assert moved.status_code < 300, moved.text
    banner = vendors.banner()
    vendors.stop()
    assert "mr-<order id>" in banner and "<referenceId> is the ledger order id" in banner

    again, restarted = start_demo_vendors(_settings(tmp_path), "127.0.0.1", 1)
    assert restarted is not None
    try:
        with httpx.Client(timeout=10) as http:
            visits = http.get(f"{again.beluga_url}/_sandbox/visits").json()
        assert [v["masterId"] for v in visits] == ["mr-order-1"]
    finally:
        restarted.stop()
    assert (tmp_path / "sandboxes" / "beluga.json").exists()
    assert (tmp_path / "sandboxes" / "pharmacy.json").exists()
