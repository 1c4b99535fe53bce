"""Every order source has words for each reader, and the patient can tell a refill from a renewal."""

from __future__ import annotations

from typing import get_args

import pytest

from api.explain_words import Audience
from api.order_words import KIND_WORDS, order_kind
from domain.orders import SourceContext
from tests.unit.given import line, placed, product


@pytest.mark.parametrize("audience", get_args(Audience))
def test_every_source_has_words(audience: Audience) -> None:
    assert set(KIND_WORDS[audience]) == set(get_args(SourceContext))


def test_the_patient_is_told_refill_or_renewal_with_its_number() -> None:
    refill = placed("p", line(product()), source_context="PATIENT_REFILL", refill_of_order_number="R-1001")
    cycle = placed("p", line(product()), source_context="SUBSCRIPTION_CYCLE", cycle_number=3)
    assert order_kind(refill, "patient")[0] == "Refill of order R-1001"
    assert "not a subscription renewal" in order_kind(refill, "patient")[1]
    assert order_kind(cycle, "patient")[0] == "Subscription renewal — cycle 3"
    assert "you did not request it as a refill" in order_kind(cycle, "patient")[1]
    assert order_kind(cycle, "staff")[0] == "Subscription cycle 3"
