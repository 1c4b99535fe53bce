"""Timelines, past states and `ledger replay explain` on a stuck refill."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from api.auth import issue_token
from ledger.cli import app
from tests.support_views.world import ORG, SECRET, World, cli_env


def test_timeline_in_global_order_with_who_why_and_change(seeded: World) -> None:
    order_id = seeded.orders["paid_refill"]
    events = seeded.get(f"/orders/{order_id}/events", role="compliance")["events"]
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    types = [e["type"] for e in events]
    assert types[:3] == ["RefillRequested", "OrderPlaced", "InvoiceIssued"]
    assert {"PaymentAttempted", "PaymentSucceeded", "OrderCharged", "RefillChargeSucceeded"} <= set(types)
    charged = next(e for e in events if e["type"] == "OrderCharged")
    assert charged["change"] == {"before": "PENDING_PAYMENT", "after": "AWAITING_REQUIREMENTS"}
    assert charged["actor"] == {"kind": "patient", "id": seeded.demo["patients"]["ada"]}
    assert charged["correlation_id"] == "refill-paid"  # the request's causal chain, carried to every event
    assert {e["aggregate_type"] for e in events} == {"refill", "order", "invoice"}
    paid = next(e for e in events if e["type"] == "PaymentSucceeded")
    assert paid["change"]["after"].startswith("PAID")


def test_state_at_a_version_and_at_a_time(seeded: World) -> None:
    order_id = seeded.orders["paid_refill"]
    first = seeded.get(f"/orders/{order_id}/state", version=1)
    assert (first["version"], first["order"]["status"], first["order"]["invoice"]["status"]) == (
        1,
        "PENDING_PAYMENT",
        "OPEN",
    )
    now = seeded.get(f"/orders/{order_id}/state", at=datetime.now().astimezone().isoformat())
    assert now["version"] == now["latest_version"] == 2
    assert now["order"]["status"] == "AWAITING_REQUIREMENTS"
    assert now["explanation"]["waiting_for"][0]["code"] == "INTAKE_MISSING"
    before = seeded.get(f"/orders/{order_id}/state", version=1)["position"]
    assert before < now["position"]


def test_cli_explain_names_the_blocking_cause_and_the_fix(seeded: World) -> None:
    var_dir = seeded.var_dir
    number = seeded.cs("blocked_refill")["order_number"]
    result = CliRunner().invoke(app, ["replay", "explain", number], env=cli_env(var_dir))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "AWAITING_SCRIPT" in text
    assert "MED_ID_MISSING" in text
    assert "no Beluga drug mapping (medId)" in text
    assert "PATCH /products/" in text
    assert "medical_review.med_id" in text
    assert "medical-review/retry" in text
    assert "ESCALATE MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT" in text


def test_cli_timeline_state_and_lag(seeded: World) -> None:
    var_dir = seeded.var_dir
    env = cli_env(var_dir)
    order_id = seeded.orders["failed_refill"]
    runner = CliRunner()
    timeline = runner.invoke(app, ["replay", "timeline", order_id, "--json"], env=env)
    assert timeline.exit_code == 0, timeline.output
    assert "PaymentFailed" in [e["type"] for e in json.loads(timeline.output)]
    table = runner.invoke(app, ["replay", "timeline", order_id], env=env)
    assert table.exit_code == 0
    assert "Timeline of" in table.output
    state = runner.invoke(app, ["replay", "state", order_id, "--version", "1"], env=env)
    assert state.exit_code == 0, state.output
    assert "PENDING_PAYMENT" in state.output
    lag = runner.invoke(app, ["replay", "lag", "--json"], env=env)
    assert lag.exit_code == 0, lag.output
    assert {"order_status", "cs_orders", "stuck_orders", "order_search"} <= {
        row["name"] for row in json.loads(lag.output)
    }
    missing = runner.invoke(app, ["replay", "explain", "R-NOSUCH"], env=env)
    assert missing.exit_code == 1
    # The CLI resolves a number as the API does (one resolver): typed in lower case, it still names the order.
    number = seeded.cs("failed_refill")["order_number"]
    by_number = runner.invoke(app, ["replay", "timeline", f" {number.lower()} ", "--json"], env=env)
    assert by_number.exit_code == 0, by_number.output
    assert {e["aggregate_id"] for e in json.loads(by_number.output)} >= {order_id}


def test_a_version_past_the_history_is_an_error_not_the_latest_state(seeded: World) -> None:
    var_dir = seeded.var_dir
    env = cli_env(var_dir)
    order_id = seeded.orders["paid_refill"]
    latest = seeded.get(f"/orders/{order_id}/state", version=1)["latest_version"]
    token = issue_token(SECRET, role="cs", subject=None, organization_id=ORG, now=datetime.now(UTC))
    r = seeded.client.get(
        f"/orders/{order_id}/state",
        params={"version": latest + 5},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422
    assert r.json()["reasons"] == ["VERSION_BEYOND_HISTORY"]
    assert r.json()["latest_version"] == latest
    runner = CliRunner()
    past = runner.invoke(app, ["replay", "state", order_id, "--version", str(latest + 5)], env=env)
    assert past.exit_code == 1
    assert f"versions 1 to {latest}" in " ".join(past.output.split())
    # People type a moment with a space and no seconds; it is read as UTC.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    typed = runner.invoke(app, ["replay", "state", order_id, "--at", tomorrow], env=env)
    assert typed.exit_code == 0, typed.output
    assert f"at version {latest} of {latest}" in " ".join(typed.output.split())
    before = runner.invoke(app, ["replay", "state", order_id, "--at", "2000-01-01 00:00"], env=env)
    assert before.exit_code == 1
    assert "did not exist yet" in before.output


def test_cli_timeline_fits_80_columns_with_a_detail_column(seeded: World) -> None:
    env = cli_env(seeded.var_dir)
    order_id = seeded.orders["failed_refill"]
    result = CliRunner().invoke(app, ["replay", "timeline", order_id], env=env, terminal_width=80)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "detail → status" in result.output
    text = " ".join(result.output.split())
    failed = next(
        e for e in seeded.get(f"/orders/{order_id}/events")["events"] if e["type"] == "PaymentFailed"
    )
    assert failed["data"]["message"].split()[0] in text  # the gateway's own words, on the table
    assert "$" in text  # amounts
