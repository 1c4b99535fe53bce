"""Must show: a compliance officer creates an export in the console, downloads its files, and
`ledger verify-export` passes on the downloaded copy (outside the server's directory)."""

from __future__ import annotations

import time
from pathlib import Path

from typer.testing import CliRunner

from ledger.cli import app as cli
from ledger.demo import seed
from tests.console.conftest import Console
from tests.support.vendors import ORG


def test_compliance_downloads_an_export_and_it_verifies_offline(console: Console, tmp_path: Path) -> None:
    data = seed(console.stack.runtime, ORG)
    page = console.signed_in("compliance")
    assert [a.inner_text() for a in page.locator("nav a").all()] == ["Exports"]
    page.click("nav >> text=Exports")
    page.select_option("select[name=scope]", "patient")
    page.fill("input[name=scope_value]", data["patients"]["ada"])
    page.fill("input[name=purpose]", "Subject access request #42")
    page.click("form.export-form button[type=submit]")
    page.wait_for_url("**/console/exports?created=*")
    export_id = page.url.rsplit("=", 1)[1]
    article = page.locator(f"article[data-export='{export_id}']")
    deadline = time.monotonic() + 20
    while article.get_attribute("data-status") == "running" and time.monotonic() < deadline:
        time.sleep(0.3)
        page.reload()
    assert article.get_attribute("data-status") == "completed", article.inner_text()
    assert "Subject access request #42" in article.inner_text()
    console.shot(page, "exports")

    copy = tmp_path / "downloaded"  # an auditor's machine: not the server's directory
    copy.mkdir()
    names = article.locator("table.files a").all_inner_texts()
    assert set(names) == {"events.jsonl", "events.csv", "manifest.json"}
    for name in names:
        with page.expect_download() as info:
            article.locator("table.files a", has_text=name).click()
        info.value.save_as(copy / name)

    key = console.stack.runtime.signer.verifier.public_b64
    result = CliRunner().invoke(cli, ["verify-export", str(copy), "--public-key", key])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK:")

    (copy / "events.csv").write_text((copy / "events.csv").read_text().replace("Ada", "Eve"))
    tampered = CliRunner().invoke(cli, ["verify-export", str(copy), "--public-key", key])
    assert tampered.exit_code == 1 and "FAIL" in tampered.output

    r = console.stack.call("GET", "/events?types=ComplianceExportDownloaded&limit=10", "ops")
    downloads = [(e["data"]["file"], e["actor"]["kind"]) for e in r.json()["events"]]
    assert sorted(downloads) == sorted((name, "compliance") for name in names)
