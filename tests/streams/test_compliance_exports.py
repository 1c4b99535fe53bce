"""Compliance exports over HTTP: a patient's export holds all of their records and nobody else's, verifies
offline with the public key alone, and is itself — like every CS history read — an audited event."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from typer.testing import CliRunner

from adapters.chain import Verifier
from domain.audit import ComplianceExportRequested, OrderHistoryRead
from domain.events import Actor
from ledger.cli import app as cli
from replay.verify_export import verify_export
from service.audit import record_history_read
from service.unit import Context
from tests.streams.conftest import refill, signer, wait_for_export
from tests.support.app import ORG, Ledger


def history(ledger: Ledger, patient: dict[str, Any], product_id: str) -> dict[str, Any]:
    """A paid order and a paid refill of it: the ids of everything that belongs to this patient."""
    order = ledger.paid_order(patient, [(product_id, 2)])
    refilled = refill(ledger, patient, order, product_id)
    return {
        "patient": patient["id"],
        "order": order["id"],
        "invoice": order["invoice"]["id"],
        "refill": refilled["refill"]["id"],
        "refill_order": refilled["refill_order"]["id"],
        "refill_invoice": refilled["invoice"]["id"],
    }


def records(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (directory / "events.jsonl").read_text().splitlines()]


def cs_read(ledger: Ledger, order_id: str, purpose: str) -> str:
    """What GET /orders/{id}/events does before answering: record the read through the service hook."""
    ctx = Context(Actor(kind="cs", id="agent-7"), ORG, "corr", "cause")
    return record_history_read(ledger.runtime.deps, ctx, order_id, purpose)


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_patients_export_is_complete_exclusive_signed_and_audited(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    ledger: Ledger = request.getfixturevalue("pg_ledger" if store == "postgres" else "sqlite_ledger")
    product = ledger.product(requires_intake=False)
    alice, bob = ledger.patient(), ledger.patient()
    mine, theirs = history(ledger, alice, product["id"]), history(ledger, bob, product["id"])
    read_mine = cs_read(ledger, mine["order"], "patient called about a charge")
    read_theirs = cs_read(ledger, theirs["order"], "routine check")

    r = ledger.call(
        "POST",
        "/compliance/exports",
        "compliance",
        json={"patient_id": alice["id"], "purpose": "HIPAA access request #12"},
    )
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/compliance/exports/{r.json()['id']}"
    export = wait_for_export(ledger, r.json()["id"])
    assert export["status"] == "completed", export
    directory = Path(export["location"])
    lines = records(directory)

    store_ = ledger.runtime.deps.store
    expected = {*mine.values(), read_mine, export["id"]}
    assert {r["aggregate_id"] for r in lines} == expected
    for aggregate_id in expected - {export["id"]}:  # every event of each, in order
        versions = [r["version"] for r in lines if r["aggregate_id"] == aggregate_id]
        assert versions == [e.originator_version for e in store_.stream(UUID(aggregate_id))]
    # The export's own request is in it; its completion, written afterwards, cannot be.
    assert [r["type"] for r in lines if r["aggregate_id"] == export["id"]] == ["ComplianceExportRequested"]
    raw = (directory / "events.jsonl").read_text() + (directory / "events.csv").read_text()
    for other in [*theirs.values(), read_theirs]:
        assert other not in raw  # nothing of the other patient, not even a reference
    assert [r["position"] for r in lines] == sorted(r["position"] for r in lines)

    manifest = export["manifest"]
    assert manifest["counts"]["events"] == len(lines)
    assert manifest["positions"]["first"] == lines[0]["position"]
    assert manifest["chain"]["last_hash"] == lines[-1]["hash"]
    verifier = Verifier.from_b64(signer(ledger).verifier.public_b64)  # the public key alone
    assert verify_export(directory, verifier) == []

    # The export is itself recorded: who, what, when, why.
    requested = [r for r in lines if r["type"] == "ComplianceExportRequested"]
    assert len(requested) == 1
    assert requested[0]["actor"] == {"kind": "compliance", "id": "compliance"}
    assert requested[0]["data"]["purpose"] == "HIPAA access request #12"
    assert requested[0]["data"]["patient_id"] == alice["id"]
    stream = store_.stream(UUID(export["id"]))
    assert [e.type for e in stream] == ["ComplianceExportRequested", "ComplianceExportCompleted"]
    assert isinstance(stream[0].fact, ComplianceExportRequested)


def test_a_cs_history_read_is_recorded_with_who_what_when_why(sqlite_ledger: Ledger) -> None:
    product = sqlite_ledger.product()
    order = sqlite_ledger.paid_order(sqlite_ledger.patient(), [(product["id"], 1)])
    access_id = cs_read(sqlite_ledger, order["id"], "  refund dispute  ")
    (event,) = sqlite_ledger.runtime.deps.store.stream(UUID(access_id))
    assert isinstance(event.fact, OrderHistoryRead)
    assert (event.fact.order_id, event.fact.purpose, event.fact.read_by) == (
        order["id"],
        "refund dispute",
        "cs:agent-7",
    )
    assert event.meta.actor.kind == "cs"
    assert event.meta.occurred_at is not None


def test_tampered_or_foreign_exports_fail_offline_verification(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    product = sqlite_ledger.product()
    order = sqlite_ledger.paid_order(sqlite_ledger.patient(), [(product["id"], 1)])
    r = sqlite_ledger.call(
        "POST",
        "/compliance/exports",
        "compliance",
        json={"order_id": order["id"], "purpose": "chargeback evidence"},
    )
    export = wait_for_export(sqlite_ledger, r.json()["id"])
    assert export["status"] == "completed"
    assert export["events"] >= 5
    verifier = signer(sqlite_ledger).verifier
    original = Path(export["location"])

    edited = tmp_path / "edited"
    shutil.copytree(original, edited)
    text = (edited / "events.jsonl").read_text().replace('"quantity":1', '"quantity":9', 1)
    (edited / "events.jsonl").write_text(text)
    assert verify_export(edited, verifier) == ["events.jsonl is not the file that was signed"]

    resigned = tmp_path / "resigned"
    shutil.copytree(original, resigned)
    manifest = json.loads((resigned / "manifest.json").read_text())
    manifest["counts"]["events"] += 1
    (resigned / "manifest.json").write_text(json.dumps(manifest))
    assert verify_export(resigned, verifier) == ["the manifest's signature does not verify"]

    other_key = Verifier.from_b64("O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik=")
    assert verify_export(original, other_key)[0] == "the manifest names another signing key"


def test_cli_export_by_period_with_progress_then_verify_export(sqlite_ledger: Ledger) -> None:
    product = sqlite_ledger.product()
    sqlite_ledger.paid_order(sqlite_ledger.patient(), [(product["id"], 1)])
    settings = sqlite_ledger.settings
    env = {
        **os.environ,
        "LEDGER_VAR_DIR": str(settings.var_dir),
        "LEDGER_ORGANIZATION_ID": "org_test",
        "LEDGER_SIGNING_KEY": settings.signing_key or "",
        "LEDGER_SECRET": settings.secret or "",
    }
    env.pop("DATABASE_URL", None)
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "export",
            "--purpose",
            "annual audit",
            "--from",
            "2000-01-01T00:00:00",
            "--to",
            "2100-01-01T00:00:00",
            "--actor",
            "auditor-1",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    directory = Path(result.output.strip().rsplit(" in ", 1)[1])
    lines = records(directory)
    positions = [n.id for n in sqlite_ledger.runtime.deps.store.iter_notifications()]
    assert [r["position"] for r in lines] == positions[: len(lines)]  # the whole period: every event so far
    assert json.loads((directory / "manifest.json").read_text())["chain"]["contiguous"] is True

    public = runner.invoke(cli, ["public-key"], env=env).output.strip()
    ok = runner.invoke(cli, ["verify-export", str(directory), "--public-key", public], env=env)
    assert ok.exit_code == 0
    assert "OK" in ok.output
    (directory / "events.csv").write_text("position\n")
    bad = runner.invoke(cli, ["verify-export", str(directory), "--public-key", public], env=env)
    assert bad.exit_code == 1
    assert "events.csv is not the file that was signed" in bad.output


def test_export_requests_are_validated_and_only_for_compliance(sqlite_ledger: Ledger) -> None:
    call = sqlite_ledger.call
    assert (
        call("POST", "/compliance/exports", "cs", json={"patient_id": "x", "purpose": "p"}).status_code == 403
    )
    r = call("POST", "/compliance/exports", "compliance", json={"purpose": "nothing named"})
    assert r.status_code == 422
    assert r.json()["reasons"] == ["EXPORT_SCOPE_INVALID"]
    r = call(
        "POST", "/compliance/exports", "compliance", json={"patient_id": "p", "order_id": "o", "purpose": "x"}
    )
    assert r.status_code == 422
    r = call("POST", "/compliance/exports", "compliance", json={"patient_id": "nobody", "purpose": "x"})
    assert r.status_code == 404
    r = call("POST", "/compliance/exports", "compliance", json={"patient_id": "nobody"})
    assert r.status_code == 422
    assert call("GET", "/compliance/exports/nope", "compliance").status_code == 404


def test_reading_an_orders_timeline_over_http_is_recorded(sqlite_ledger: Ledger) -> None:
    product = sqlite_ledger.product()
    order = sqlite_ledger.paid_order(sqlite_ledger.patient(), [(product["id"], 1)])
    path = f"/orders/{order['id']}/events?purpose=chargeback%20review"
    r = sqlite_ledger.call("GET", path, "cs", "agent-9")
    assert r.status_code == 200, r.text
    store = sqlite_ledger.runtime.deps.store
    reads = list(store.iter_notifications(topics=["OrderHistoryRead"]))
    assert len(reads) == 1
    (event,) = store.stream(UUID(str(reads[0].originator_id)))
    assert isinstance(event.fact, OrderHistoryRead)
    assert (event.fact.order_id, event.fact.purpose) == (order["id"], "chargeback review")
    assert event.meta.actor.kind == "cs"


def test_cli_export_of_one_order_takes_its_number(sqlite_ledger: Ledger) -> None:
    product, patient = sqlite_ledger.product(), sqlite_ledger.patient()
    order = sqlite_ledger.paid_order(patient, [(product["id"], 1)])
    other = sqlite_ledger.paid_order(patient, [(product["id"], 2)])
    settings = sqlite_ledger.settings
    env = {
        **os.environ,
        "LEDGER_VAR_DIR": str(settings.var_dir),
        "LEDGER_ORGANIZATION_ID": "org_test",
        "LEDGER_SIGNING_KEY": settings.signing_key or "",
        "LEDGER_SECRET": settings.secret or "",
    }
    env.pop("DATABASE_URL", None)
    runner = CliRunner()
    args = ["export", "--purpose", "chargeback", "--actor", "auditor-2", "--order-id"]
    result = runner.invoke(cli, [*args, order["number"]], env=env)
    assert result.exit_code == 0, result.output
    lines = records(Path(result.output.strip().rsplit(" in ", 1)[1]))
    touched = {r["aggregate_id"] for r in lines}
    assert order["id"] in touched and other["id"] not in touched
    missing = runner.invoke(cli, [*args, "R-NOSUCH"], env=env)
    assert missing.exit_code == 1
    assert "no order R-NOSUCH" in missing.output


def test_exports_are_listed_downloaded_over_http_audited_and_verified_elsewhere(
    sqlite_ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    product, patient = sqlite_ledger.product(), sqlite_ledger.patient()
    order = sqlite_ledger.paid_order(patient, [(product["id"], 1)])
    r = sqlite_ledger.call(
        "POST", "/compliance/exports", "compliance", json={"order_id": order["id"], "purpose": "audit 7"}
    )
    assert r.status_code == 202, r.text
    export = wait_for_export(sqlite_ledger, r.json()["id"])
    assert export["status"] == "completed", export
    listed = sqlite_ledger.call("GET", "/compliance/exports", "compliance").json()["exports"]
    assert [e["id"] for e in listed][:1] == [export["id"]]

    copy = tmp_path / "downloaded"
    copy.mkdir()
    for name in ("manifest.json", "events.jsonl", "events.csv"):
        got = sqlite_ledger.call("GET", f"/compliance/exports/{export['id']}/files/{name}", "compliance")
        assert got.status_code == 200, got.text
        (copy / name).write_bytes(got.content)
    base = f"/compliance/exports/{export['id']}/files"
    assert sqlite_ledger.call("GET", f"{base}/..%2Fledger.sqlite", "compliance").status_code == 404
    assert sqlite_ledger.call("GET", f"{base}/events.csv", "cs").status_code == 403
    downloads = [
        e.fact
        for n in sqlite_ledger.runtime.deps.store.iter_notifications(topics=["ComplianceExportDownloaded"])
        for e in sqlite_ledger.runtime.deps.store.stream(UUID(str(n.originator_id)))
        if e.fact.TYPE == "ComplianceExportDownloaded"
    ]
    assert {d.file for d in downloads} == {"manifest.json", "events.jsonl", "events.csv"}  # type: ignore[attr-defined]

    # On a laptop, outside the ledger's directory, with no key configured: verified with the key the
    # manifest names, said plainly, and no secrets are created there.
    elsewhere = tmp_path / "laptop"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    env: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith("LEDGER_") or k == "DATABASE_URL"
    }  # CliRunner unsets these
    result = CliRunner().invoke(cli, ["verify-export", str(copy)], env=env)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "intact" in said and "the key the manifest names" in said and "--public-key" in said
    assert list(elsewhere.iterdir()) == []
    (copy / "events.csv").write_text("position\n")
    tampered = CliRunner().invoke(cli, ["verify-export", str(copy)], env=env)
    assert tampered.exit_code == 1


def test_every_export_file_is_served_as_the_document_types_it(sqlite_ledger: Ledger) -> None:
    # The OpenAPI document promises application/octet-stream; the route used to guess from the name
    # (application/json, text/csv, and text/plain for `.jsonl`, which has no entry in the mime table).
    product, patient = sqlite_ledger.product(), sqlite_ledger.patient()
    order = sqlite_ledger.paid_order(patient, [(product["id"], 1)])
    r = sqlite_ledger.call(
        "POST", "/compliance/exports", "compliance", json={"order_id": order["id"], "purpose": "audit 8"}
    )
    export = wait_for_export(sqlite_ledger, r.json()["id"])
    documented = sqlite_ledger.client.get("/openapi.json").json()["paths"][
        "/compliance/exports/{export_id}/files/{name}"
    ]["get"]["responses"]["200"]["content"]
    for name in ("manifest.json", "events.jsonl", "events.csv"):
        got = sqlite_ledger.call("GET", f"/compliance/exports/{export['id']}/files/{name}", "compliance")
        assert got.status_code == 200, got.text
        assert list(documented) == [got.headers["content-type"]] == ["application/octet-stream"]
        assert got.headers["content-disposition"] == f'attachment; filename="{name}"'
