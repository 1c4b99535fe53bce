"""CS search (`GET /cs/orders?q=`): what a patient says on the phone finds their orders; audited."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.eventstore import decode_notification
from api.auth import issue_token
from domain.audit import OrdersSearched
from domain.orders import OrderPlaced
from tests.support_views.world import ORG, SECRET, World, world


def _placed(w: World) -> dict[str, OrderPlaced]:
    """Every order as the store has it (not as the search index has it)."""
    found = {}
    for n in w.runtime.deps.store.iter_notifications(topics=["OrderPlaced"]):
        event = decode_notification(n)
        assert isinstance(event.fact, OrderPlaced)
        found[str(event.originator_id)] = event.fact
    return found


def _search(w: World, q: str, role: str = "cs", **params: Any) -> Any:
    return w.get("/cs/orders", role=role, q=q, **params)


def _all_pages(w: World, q: str, limit: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    after: int | None = None
    for _ in range(50):
        extra: dict[str, Any] = {} if after is None else {"after": after}
        page = _search(w, q, limit=limit, **extra)
        assert len(page["orders"]) <= limit
        rows += page["orders"]
        after = page["next_after"]
        if after is None:
            return rows
    raise AssertionError("paging never ended")


def test_the_original_number_finds_it_and_every_refill_of_it(seeded: World) -> None:
    placed = _placed(seeded)
    original = placed[seeded.orders["original"]]
    expected = {oid for oid, p in placed.items() if original.number in (p.number, p.refill_of_order_number)}
    assert len(expected) > 3  # the original and several refills
    found = _search(seeded, original.number.lower())  # typed in lower case on the phone
    assert found["matched_by"] == "number"
    assert {o["id"] for o in found["orders"]} == expected
    for row in found["orders"]:
        view = seeded.get(f"/cs/orders/{row['id']}")
        assert (row["number"], row["status"], row["kind_label"]) == (
            view["order_number"],
            view["status"],
            view["kind_label"],
        )
        assert row["patient_name"] == "Ada Lovelace"


def test_a_refill_number_finds_that_refill(seeded: World) -> None:
    refill = seeded.cs("failed_refill")
    found = _search(seeded, f"  {refill['order_number']} ")["orders"]
    assert [o["id"] for o in found] == [refill["order_id"]]
    assert found[0]["kind_label"].startswith("Patient refill of order ")


def test_e_mail_and_name_find_every_order_of_the_patient(seeded: World) -> None:
    ada = seeded.demo["patients"]["ada"]
    expected = {oid for oid, p in _placed(seeded).items() if p.patient_id == ada}
    by_email = _search(seeded, "ADA@Example.com")
    assert by_email["matched_by"] == "email"
    assert len(by_email["orders"]) == min(20, len(expected))
    assert {o["id"] for o in _all_pages(seeded, "ada@example.com", 100)} == expected
    assert {o["id"] for o in _all_pages(seeded, "lovelace  ADA", 100)} == expected
    assert _search(seeded, "bob@example.com")["orders"] == []  # Bob has no orders
    assert _search(seeded, "Ada%")["orders"] == []  # LIKE wildcards are matched literally
    assert _search(seeded, "Grace Lovelace")["orders"] == []  # every word must match


def test_paging_is_complete_without_repeats(seeded: World) -> None:
    full = _all_pages(seeded, "ada", 100)
    paged = _all_pages(seeded, "ada", 3)
    assert len(full) > 6
    assert [o["id"] for o in paged] == [o["id"] for o in full]  # newest first, same order


def test_each_search_is_an_audited_event(seeded: World) -> None:
    store = seeded.runtime.deps.store
    before = len(list(store.iter_notifications(topics=["OrdersSearched"])))
    found = _search(seeded, "Ada Lovelace", role="ops", limit=2, purpose="patient called")
    events = list(store.iter_notifications(topics=["OrdersSearched"]))
    assert len(events) == before + 1
    recorded = decode_notification(events[-1])
    fact = recorded.fact
    assert isinstance(fact, OrdersSearched)
    assert (fact.query, fact.purpose, fact.searched_by) == ("Ada Lovelace", "patient called", "ops:ops")
    assert list(fact.order_ids) == [o["id"] for o in found["orders"]]
    assert recorded.meta.organization_id == ORG


def test_who_may_search_and_bad_queries(seeded: World) -> None:
    def status(role: str, **params: Any) -> tuple[int, Any]:
        token = issue_token(SECRET, role=role, subject="someone", organization_id=ORG, now=datetime.now(UTC))
        r = seeded.client.get("/cs/orders", params=params, headers={"Authorization": f"Bearer {token}"})
        return r.status_code, r.json()

    assert status("patient", q="ada")[0] == 403
    assert status("clinic", q="ada")[0] == 403
    assert status("compliance", q="ada")[0] == 403
    assert status("staff", q="ada")[0] == 200
    code, body = status("cs", q="   ")
    assert code == 422 and "q" in str(body)
    code, body = status("cs")
    assert code == 422 and "q" in str(body)
    assert status("cs", q="ada", limit="0")[0] == 422


def test_another_organization_finds_nothing(seeded: World) -> None:
    number = seeded.cs("original")["order_number"]
    token = issue_token(SECRET, role="cs", subject=None, organization_id="org_other", now=datetime.now(UTC))
    headers = {"Authorization": f"Bearer {token}"}
    r = seeded.client.get("/cs/orders", params={"q": number}, headers=headers)
    assert r.status_code == 200 and r.json()["orders"] == []
    assert seeded.client.get(f"/cs/orders/{number}", headers=headers).status_code == 404


def test_the_cs_view_by_number(seeded: World) -> None:
    by_id = seeded.cs("paid_refill")
    by_number = seeded.get(f"/cs/orders/{by_id['order_number'].lower()}", role="staff")
    assert by_number == by_id
    token = issue_token(SECRET, role="cs", subject=None, organization_id=ORG, now=datetime.now(UTC))
    r = seeded.client.get("/cs/orders/R-AAAAAAAA", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404


@pytest.mark.postgres
def test_the_same_searches_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    with world(tmp_path, pg_url) as w:
        original = w.cs("original")["order_number"]
        ada = w.demo["patients"]["ada"]
        expected = {oid for oid, p in _placed(w).items() if p.patient_id == ada}
        assert {o["id"] for o in _all_pages(w, "Ada@example.com", 4)} == expected
        assert {o["id"] for o in _all_pages(w, "ada LOVELACE", 100)} == expected
        assert _search(w, "Ada_")["orders"] == []
        by_number = {o["id"] for o in _search(w, original)["orders"]}
        assert w.orders["original"] in by_number and w.orders["paid_refill"] in by_number
        assert w.get(f"/cs/orders/{original}")["order_id"] == w.orders["original"]
