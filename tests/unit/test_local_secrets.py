"""Local secrets are generated once and kept: a restart neither regenerates nor re-announces them."""

from __future__ import annotations

import json
from pathlib import Path

from ledger.settings import Settings


def test_a_restart_keeps_the_generated_secrets_and_reports_none(tmp_path: Path) -> None:
    first, generated = Settings(LEDGER_ENV="local", LEDGER_VAR_DIR=tmp_path).with_local_defaults()
    assert "LEDGER_SECRET" in generated
    again, regenerated = Settings(LEDGER_ENV="local", LEDGER_VAR_DIR=tmp_path).with_local_defaults()
    assert regenerated == []
    assert again.secret == first.secret
    kept = json.loads((tmp_path / "local-secrets.json").read_text())
    assert kept["LEDGER_SECRET"] == first.secret


def test_a_secret_from_the_environment_is_not_generated(tmp_path: Path) -> None:
    given = "s" * 40
    settings, generated = Settings(
        LEDGER_ENV="local", LEDGER_VAR_DIR=tmp_path, LEDGER_SECRET=given
    ).with_local_defaults()
    assert settings.secret == given
    assert "LEDGER_SECRET" not in generated
