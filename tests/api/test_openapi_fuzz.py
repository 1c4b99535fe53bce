"""Schemathesis against the served /openapi.json with every role's token: no 5xx, no hang, no response
outside the document.

The fuzzer runs as a separate process against a real uvicorn server (demo-sized data on a temporary
SQLite store), once per role, so xdist spreads the roles over its workers. Each token is for an identity
that owns realistic data (`tests/support/fuzzing.py`): Ada for `patient` (paid and declined refills, an
open invoice, subscriptions, a clinic-paid order), the demo clinic's nurse for `clinic` (open carts, a
quickfill, a checked-out cart), organization-wide tokens for the others. The ids of that data are the
fuzzer's dictionaries for the path, query and body fields that name them, so requests reach the
handlers instead of stopping at "not found"; the test fails if too few of a role's operations ever
answered 2xx. A role fuzzes the operations it may call with its whole budget and every other operation
with a few requests (each must be a documented 403). Webhook deliveries are signed on their way in, as
their vendors would sign them, so hostile bodies reach the parsers behind the signature check. Between
them the roles give every documented operation a full budget (checked below).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from adapters.sandbox.runner import serve_in_thread
from api.app import create_app
from api.auth import ROLES
from api.endpoint import REGISTRY
from ledger.bootstrap import build_runtime
from tests.support.app import ledger_settings
from tests.support.fuzzing import Answers, VendorSigning, build_world, schemathesis_config

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
STREAM = "/events/stream"  # the live feed never ends, by design; tests/streams/test_sse_resume.py covers it
WEBHOOKS = ("/webhooks/stripe", "/webhooks/beluga", "/webhooks/pharmacies/{partner}")
COMPLIANCE_DOWNLOAD = "/compliance/exports/{export_id}/files/{name}"


@dataclass(frozen=True)
class Budget:
    """How hard one role is fuzzed, how long it may take, and how much of its surface must answer 2xx."""

    max_examples: int  # per operation, in the fuzzing phase (the coverage phase's cases come on top)
    seconds: int = 480  # the schemathesis process's bound; one request's is --request-timeout
    reach: float = 0.75  # of the role's own operations, the share that must have answered 2xx at least once


# Longest first, so xdist's two workers finish together. Measured on the shared 2-core machine, this file
# alone with `-n 2`: the runs take 34 s (compliance) to 144 s (staff), 5 min 0 s in all; with two busy
# loops beside them 39 s to 160 s, 5 min 38 s in all. (The four-role run it replaces took 8 min 30 s.)
BUDGETS: dict[str, Budget] = {
    "staff": Budget(25),
    "service": Budget(25),
    "clinic": Budget(25),
    "ops": Budget(25),
    "cs": Budget(25),
    "patient": Budget(25),
    "compliance": Budget(25),
}


FORBIDDEN_EXAMPLES = 3  # per operation a role may not call: the 403 comes before the body is read


def operations_for(role: str) -> list[tuple[str, str]]:
    """(method, path) of every documented operation `role` may call; the webhooks ride with `service`."""
    ops = [(s.method, s.path) for s in REGISTRY if role in s.roles and s.path != STREAM]
    if role == "compliance":
        ops.append(("GET", COMPLIANCE_DOWNLOAD))
    if role == "service":
        ops += [("POST", path) for path in WEBHOOKS]
    return ops


def others_of(role: str) -> list[str]:
    """The documented operations `role` may not call, by schemathesis' name for them."""
    own = operations_for(role)
    return sorted({f"{m} {p}" for r in ROLES for m, p in operations_for(r) if (m, p) not in own})


def test_the_roles_between_them_fuzz_every_documented_operation(tmp_path: Path) -> None:
    runtime = build_runtime(ledger_settings(tmp_path))
    with TestClient(create_app(runtime)) as client:
        document = client.get("/openapi.json").json()
    documented = {(m.upper(), path) for path, ops in document["paths"].items() for m in ops} - {
        ("GET", STREAM)
    }
    assert set(BUDGETS) == set(ROLES)
    assert {op for role in BUDGETS for op in operations_for(role)} == documented


def schemathesis_run(url: str, token: str, config: Path, role: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(config),
            "run",
            f"{url}/openapi.json",
            "-H",
            f"Authorization: Bearer {token}",
            "--max-examples",
            str(BUDGETS[role].max_examples),
            "--seed",
            "20261122",
            "--checks",
            CHECKS,
            "--request-timeout",
            "20",
            "--no-color",
            "--exclude-path",
            STREAM,
        ],
        capture_output=True,
        text=True,
        timeout=BUDGETS[role].seconds,
        cwd=config.parent,
    )


# Each role's run has its own bound (pytest's default is 300 s): its budget plus setting up the world.
@pytest.mark.timeout(max(b.seconds for b in BUDGETS.values()) + 120)
@pytest.mark.parametrize("role", list(BUDGETS))
def test_fuzzing_the_served_schema_finds_no_5xx_and_no_off_schema_response(tmp_path: Path, role: str) -> None:
    runtime = build_runtime(ledger_settings(tmp_path))
    answers = Answers(VendorSigning(create_app(runtime), runtime.webhook_secrets))
    with serve_in_thread(answers) as server:
        world, tokens = build_world(runtime, server.url)
        config = tmp_path / "schemathesis.toml"
        config.write_text(schemathesis_config(world, others_of(role), FORBIDDEN_EXAMPLES))
        try:
            result = schemathesis_run(server.url, tokens[role], config, role)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"the {role} run outlived {exc.timeout} s\n{answers.report()}")
        # Read while the server still runs: a request it is still working on is a hang, and names its route.
        said = result.stdout[-8000:] + result.stderr[-2000:] + "\n" + answers.report()
        unanswered = dict(answers.open)
    assert result.returncode == 0, said
    assert not unanswered, said
    ops = operations_for(role)
    assert len(answers.answered_2xx(ops)) >= BUDGETS[role].reach * len(ops), said
