"""Escalations are raised and resolved as events by the policy worker, and CS works from the queue.

Over real HTTP with the Beluga and pharmacy sandboxes and the workers running as `ledger serve` runs
them: a Beluga block after payment is in `GET /cs/escalations` within 2 s, with the seed's report; the
mapping is fixed and the submission retried, and the escalation resolves by itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.escalations import EscalationRaised
from service.escalations import stream_id
from tests.support.vendors import Stack, paid_refill, running_stack, seed_catalog


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    with running_stack(tmp_path, url) as s:
        yield s


def _queue(stack: Stack, role: str = "cs", **params: Any) -> dict[str, Any]:
    r = stack.call("GET", "/cs/escalations", role, params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _wait(what: str, probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _on(stack: Stack, order_id: str, **params: Any) -> list[dict[str, Any]]:
    return [e for e in _queue(stack, order_id=order_id, **params)["escalations"]]


def test_a_beluga_block_after_payment_is_queued_within_2s_and_resolves_after_the_fix(stack: Stack) -> None:
    seeded = seed_catalog(stack, med_id=None, requires_intake=False)  # no Beluga medId: blocked
    refill = paid_refill(stack, seeded)  # paid when this returns
    started = time.monotonic()
    (raised,) = _wait("the escalation", lambda: _on(stack, refill["id"]), timeout=2.0)
    assert time.monotonic() - started < 2.0
    assert (raised["kind"], raised["order_number"]) == (
        "MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT",
        refill["number"],
    )
    assert "medId" in raised["why"] and raised["age_seconds"] >= 0
    order = stack.order(refill["id"])
    assert raised["report"].splitlines() == [
        "Patient: Ada Example ada@example.com",
        f"Original order: {seeded['original']['number']}",
        f"Refill order: {refill['number']}",
        "Refill product: Semaglutide 2.5 mg/mL",
        "Refill invoice status: PAID",
        "Payment status / gateway error: succeeded / none",
        f"Current refill order status: {order['status']}",
        "Beluga submit status / error: blocked / the product has no Beluga drug mapping (medId)",
        "Patient sees the refill button: yes",
    ]
    # Filtered by kind it is there; by another kind it is not. The CS view lists it too.
    kinds = {e["id"] for e in _queue(stack, kind="MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT")["escalations"]}
    assert raised["id"] in kinds
    assert raised["id"] not in {e["id"] for e in _queue(stack, kind="CHARGE_PENDING")["escalations"]}
    cs = stack.call("GET", f"/cs/orders/{refill['number']}", "cs").json()
    assert [e["id"] for e in cs["escalations"]] == [raised["id"]]

    r = stack.call(
        "PATCH",
        f"/products/{seeded['product']['id']}",
        "staff",
        json={"medical_review": {"med_id": "beluga-sema"}},
    )
    assert r.status_code == 200, r.text
    r = stack.call("POST", f"/orders/{refill['id']}/medical-review/retry", "ops")
    assert r.status_code == 200, r.text
    (resolved,) = _wait("the resolution", lambda: _on(stack, refill["id"], state="resolved"), timeout=5.0)
    assert resolved["id"] == raised["id"] and resolved["resolved_at"] is not None
    assert _on(stack, refill["id"]) == []
    assert stack.call("GET", f"/cs/orders/{refill['id']}", "cs").json()["escalations"] == []
    # Raised exactly once, although the worker saw many events on this order.
    events = stack.runtime.deps.store.stream(stream_id(refill["id"]))
    assert [type(e.fact).__name__ for e in events] == ["EscalationRaised", "EscalationResolved"]
    assert isinstance(events[0].fact, EscalationRaised)
    assert events[0].meta.actor.label() == "policy:escalations"


def test_the_queue_is_oldest_first_paged_with_a_total_and_for_cs_and_ops_only(stack: Stack) -> None:
    seeded = seed_catalog(stack, med_id=None, requires_intake=False)  # the original is blocked too
    refill = paid_refill(stack, seeded)
    for order_id in (seeded["original"]["id"], refill["id"]):

        def probe(order_id: str = order_id) -> list[dict[str, Any]]:
            return _on(stack, order_id)

        _wait("its escalation", probe, timeout=5.0)
    whole = _queue(stack, role="ops", limit=100)
    assert whole["total"] == len(whole["escalations"]) >= 2 and whole["next_after"] is None
    raised = [e["raised_at"] for e in whole["escalations"]]
    assert raised == sorted(raised)
    seen, after = [], 0
    while True:
        page = _queue(stack, limit=1, after=after)
        assert page["total"] == whole["total"]
        seen += [e["id"] for e in page["escalations"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == [e["id"] for e in whole["escalations"]]
    assert _queue(stack, older_than=3600)["escalations"] == []  # none is an hour old
    for role in ("patient", "staff", "compliance", "clinic"):
        assert stack.call("GET", "/cs/escalations", role, "someone").status_code == 403
    assert stack.call("GET", "/cs/escalations", "cs", params={"state": "all"}).status_code == 422
