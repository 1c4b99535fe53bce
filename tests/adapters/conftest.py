"""Fixtures for the payment-adapter tests: a private localstripe and a gateway pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.payments.stripe_gateway import StripeGateway
from tests.support.localstripe import start_localstripe

# localstripe accepts any key shaped like a secret key; real keys never appear in tests.
TEST_API_KEY = "sk_test_refill_ledger"


@pytest.fixture(scope="module")
def localstripe_url() -> Iterator[str]:
    with start_localstripe() as base_url:
        yield base_url


@pytest.fixture
def stripe_gateway(localstripe_url: str) -> Iterator[StripeGateway]:
    gateway = StripeGateway(TEST_API_KEY, api_base=localstripe_url)
    yield gateway
    gateway.close()
