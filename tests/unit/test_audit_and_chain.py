"""Given/when/then for the export rules, and the chain's arithmetic and signatures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.chain import (
    GENESIS,
    Signer,
    Verifier,
    canonical_event,
    canonical_event_fast,
    canonical_json,
    checkpoint_message,
    link,
)
from domain.audit import ComplianceExportCompleted, evolve_export, finish_export, request_export
from domain.errors import Conflict, InvalidCommand

NOW = datetime(2025, 1, 2, tzinfo=UTC)


def ask(**scope: object) -> object:
    values: dict[str, object] = {"patient_id": None, "order_id": None, "period_from": None, "period_to": None}
    values.update(scope)
    return request_export(
        requested_by="compliance:c1",
        purpose=str(values.pop("purpose", "audit")),
        now=NOW,
        **values,  # type: ignore[arg-type]
    )


def test_an_export_names_exactly_one_scope_and_a_purpose() -> None:
    assert ask(patient_id="p1").patient_id == "p1"  # type: ignore[attr-defined]
    assert ask(period_to=NOW).period_to == NOW  # type: ignore[attr-defined]
    for bad in ({}, {"patient_id": "p", "order_id": "o"}, {"order_id": "o", "period_from": NOW}):
        with pytest.raises(InvalidCommand):
            ask(**bad)
    with pytest.raises(InvalidCommand) as reversed_period:
        ask(period_from=NOW, period_to=NOW)
    assert (reversed_period.value.field, reversed_period.value.rule) == ("from", "EXPORT_PERIOD_REVERSED")
    with pytest.raises(InvalidCommand) as no_purpose:
        ask(patient_id="p", purpose="   ")
    assert (no_purpose.value.field, no_purpose.value.reasons) == ("purpose", ("PURPOSE_REQUIRED",))


def test_a_finished_export_cannot_finish_again() -> None:
    requested = ask(order_id="o1")
    state = evolve_export(None, requested, "e1")  # type: ignore[arg-type]
    done = ComplianceExportCompleted(
        events=3, first_position=1, last_position=9, manifest_sha256="ab", location="/x", completed_at=NOW
    )
    (fact,) = finish_export(state, done)
    finished = evolve_export(state, fact, "e1")
    assert finished.status == "completed"
    with pytest.raises(Conflict):
        finish_export(finished, done)


def test_links_depend_on_every_field_and_the_previous_hash() -> None:
    body = {"v": 1, "data": {"x": "ü"}, "event_id": "e"}
    base = link(GENESIS, canonical_event(5, "a", 1, "T", body))
    variants = [
        canonical_event(6, "a", 1, "T", body),
        canonical_event(5, "b", 1, "T", body),
        canonical_event(5, "a", 2, "T", body),
        canonical_event(5, "a", 1, "U", body),
        canonical_event(5, "a", 1, "T", {**body, "data": {"x": "y"}}),
    ]
    assert len({base, *(link(GENESIS, v) for v in variants)}) == 6
    assert link("1" * 64, canonical_event(5, "a", 1, "T", body)) != base
    # The fast path around stored (canonical) bytes gives the same bytes.
    assert canonical_event_fast(5, "a", 1, "T", canonical_json(body)) == canonical_event(5, "a", 1, "T", body)


def test_checkpoints_verify_only_with_the_signing_key() -> None:
    signer = Signer.from_b64("q" * 43)
    signature = signer.sign(checkpoint_message(7, "ab" * 32))
    public = Verifier.from_b64(signer.verifier.public_b64)
    assert public.verify(checkpoint_message(7, "ab" * 32), signature)
    assert not public.verify(checkpoint_message(8, "ab" * 32), signature)
    assert not Signer.from_b64("r" * 43).verifier.verify(checkpoint_message(7, "ab" * 32), signature)
