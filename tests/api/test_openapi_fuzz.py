"""Schemathesis against the served /openapi.json: no 5xx, no response outside the schema.

The fuzzer runs as a separate process against a real uvicorn server (demo-sized data on a
temporary SQLite store), with a staff, an ops, a clinic-user and a patient token (the demo's Ada,
who has a paid order), so the catalog/order, support, clinic-cart and patient surfaces are each
exercised past authentication.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.sandbox.runner import serve_in_thread
from api.app import create_app
from api.auth import issue_token
from ledger.bootstrap import build_runtime
from ledger.demo import seed
from tests.support.app import ORG, ledger_settings

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


EXAMPLES = {"staff": 25, "ops": 25, "clinic": 25, "patient": 15}


# The fuzzer walks every route (a few hundred requests a role): on a loaded 2-core machine one role has
# taken close to pytest's default 300 s, so these get their own bound.
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("role", list(EXAMPLES))
def test_fuzzing_the_served_schema_finds_no_5xx_and_no_off_schema_response(tmp_path: Path, role: str) -> None:
    runtime = build_runtime(ledger_settings(tmp_path))
    demo = seed(runtime, ORG)
    subjects = {"clinic": demo["clinic"]["user_id"], "patient": demo["patients"]["ada"]}
    subject = subjects.get(role)  # the demo clinic's nurse; Ada, who has a paid order
    token = issue_token(
        runtime.token_secret, role=role, subject=subject, organization_id=ORG, now=datetime.now(UTC)
    )
    with serve_in_thread(create_app(runtime)) as server:
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{server.url}/openapi.json",
                "-H",
                f"Authorization: Bearer {token}",
                "--max-examples",
                str(EXAMPLES[role]),
                "--seed",
                "20261122",
                "--checks",
                CHECKS,
                "--request-timeout",
                "20",
                # The live feed never ends, by design; tests/streams/test_sse_resume.py covers it.
                "--exclude-path",
                "/events/stream",
            ],
            capture_output=True,
            text=True,
            timeout=1400,
            cwd=tmp_path,
        )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
