"""StripeGateway through the real `stripe` SDK against a private localstripe over 127.0.0.1.

What localstripe does (checked against its source and by running it):
- it knows only the test tokens `pm_card_visa`, `pm_card_visa_chargeDeclined` (refused when
  attached) and `pm_card_chargeCustomerFail` (attaches, then every charge fails with 402
  `card_declined`, "Your card was declined."); every other `pm_card_…` is a 404;
- a declined confirm=True PaymentIntent comes back as a 402 error (-> `stripe.CardError`)
  carrying the failed charge id, not the intent id as real Stripe does;
- it ignores idempotency keys, so no test here relies on them (the ledger guards duplicates);
- it rejects `description` on a PaymentIntent (the adapter does not send one anyway).
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from adapters.payments.port import (
    ChargeRequest,
    GatewayError,
    GatewayUnavailable,
    InvalidPaymentToken,
    PaymentGateway,
    SavedCard,
)
from adapters.payments.stripe_gateway import StripeGateway
from adapters.payments.stripe_webhooks import (
    InvalidWebhookSignature,
    StripeEvent,
    parse_stripe_event,
    sign_stripe_payload,
)
from adapters.webhook_signature import WebhookPayloadError
from tests.adapters.conftest import TEST_API_KEY

WEBHOOK_SECRET = "whsec_test_refill_ledger"

# The SDK's HTTPXClient posts form bodies with httpx's deprecated `data=` bytes: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def _api(base_url: str, path: str) -> dict[str, Any]:
    """Read localstripe's own record, independently of the adapter under test."""
    response = httpx.get(f"{base_url}{path}", headers={"Authorization": f"Bearer {TEST_API_KEY}"}, timeout=5)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _charge(card: SavedCard, key: str, amount: int = 4_900) -> ChargeRequest:
    return ChargeRequest(
        idempotency_key=key,
        amount_cents=amount,
        currency="usd",
        customer_ref=card.customer_ref,
        payment_method_ref=card.payment_method_ref,
        description="Refill",
        metadata={"invoice_id": f"inv-{key}", "order_id": "ord-1"},
    )


def test_satisfies_the_port(stripe_gateway: StripeGateway) -> None:
    gateway: PaymentGateway = stripe_gateway
    assert gateway.name == "stripe"


def test_save_card_creates_customer_and_attaches(stripe_gateway: StripeGateway, localstripe_url: str) -> None:
    card = stripe_gateway.save_card(customer_ref=None, token="pm_card_visa", reference="pat-42")

    assert card.customer_ref.startswith("cus_")
    assert card.payment_method_ref.startswith("pm_")
    assert card.payment_method_ref != "pm_card_visa"  # the token became a stored method
    assert (card.brand, card.last4) == ("visa", "4242")
    customer = _api(localstripe_url, f"/v1/customers/{card.customer_ref}")
    assert customer["metadata"] == {"ledger_ref": "pat-42"}
    method = _api(localstripe_url, f"/v1/payment_methods/{card.payment_method_ref}")
    assert method["customer"] == card.customer_ref


def test_save_card_for_existing_customer(stripe_gateway: StripeGateway) -> None:
    first = stripe_gateway.save_card(customer_ref=None, token="pm_card_visa", reference="pat-1")
    second = stripe_gateway.save_card(
        customer_ref=first.customer_ref, token="pm_card_visa", reference="pat-1"
    )
    assert second.customer_ref == first.customer_ref
    assert second.payment_method_ref != first.payment_method_ref


@pytest.mark.parametrize("token", ["pm_nonexistent", "pm_card_visa_chargeDeclined"])
def test_refused_tokens_raise_invalid_payment_token(stripe_gateway: StripeGateway, token: str) -> None:
    with pytest.raises(InvalidPaymentToken):
        stripe_gateway.save_card(customer_ref=None, token=token, reference="pat-1")


def test_successful_charge(stripe_gateway: StripeGateway, localstripe_url: str) -> None:
    card = stripe_gateway.save_card(customer_ref=None, token="pm_card_visa", reference="pat-1")

    outcome = stripe_gateway.charge(_charge(card, "ok-1", amount=4_900))

    assert outcome.succeeded
    assert outcome.reference is not None
    intent = _api(localstripe_url, f"/v1/payment_intents/{outcome.reference}")
    assert intent["status"] == "succeeded"
    assert intent["amount"] == 4_900
    assert intent["customer"] == card.customer_ref
    assert intent["metadata"] == {
        "invoice_id": "inv-ok-1",
        "order_id": "ord-1",
        "ledger_idempotency_key": "ok-1",
    }


def test_charge_customer_fail_declines_with_gateway_message(stripe_gateway: StripeGateway) -> None:
    card = stripe_gateway.save_card(customer_ref=None, token="pm_card_chargeCustomerFail", reference="pat-1")
    assert card.last4 == "0341"  # saving such a card succeeds; only charging fails

    outcome = stripe_gateway.charge(_charge(card, "fail-1"))

    assert not outcome.succeeded
    assert outcome.decline_code == "card_declined"
    assert outcome.message == "Your card was declined."
    assert outcome.reference is not None
    assert outcome.reference.startswith("ch_")  # localstripe names the failed charge


def test_charge_with_unknown_payment_method_is_a_refusal(stripe_gateway: StripeGateway) -> None:
    card = stripe_gateway.save_card(customer_ref=None, token="pm_card_visa", reference="pat-1")
    bogus = SavedCard(customer_ref=card.customer_ref, payment_method_ref="pm_doesnotexist")
    outcome = stripe_gateway.charge(_charge(bogus, "bogus-1"))
    assert not outcome.succeeded
    assert outcome.message


def test_refund(stripe_gateway: StripeGateway, localstripe_url: str) -> None:
    card = stripe_gateway.save_card(customer_ref=None, token="pm_card_visa", reference="pat-1")
    charged = stripe_gateway.charge(_charge(card, "refund-1", amount=3_000))
    assert charged.reference is not None

    refund = stripe_gateway.refund(
        idempotency_key="refund-1:r", charge_reference=charged.reference, amount_cents=1_000
    )

    assert refund.succeeded
    assert refund.reference is not None
    stored = _api(localstripe_url, f"/v1/refunds/{refund.reference}")
    assert stored["amount"] == 1_000
    assert stored["payment_intent"] == charged.reference


def test_refund_of_a_declined_charge_fails(stripe_gateway: StripeGateway) -> None:
    card = stripe_gateway.save_card(customer_ref=None, token="pm_card_chargeCustomerFail", reference="pat-1")
    declined = stripe_gateway.charge(_charge(card, "fail-2"))
    assert declined.reference is not None
    refund = stripe_gateway.refund(
        idempotency_key="fail-2:r", charge_reference=declined.reference, amount_cents=100
    )
    assert not refund.succeeded
    assert refund.message


# -- gateway failures ---------------------------------------------------------------------


@pytest.fixture
def closed_port_url() -> Iterator[str]:
    """A loopback port that is bound but not listening: connections are refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_unreachable_gateway_is_unavailable(closed_port_url: str) -> None:
    gateway = StripeGateway(TEST_API_KEY, api_base=closed_port_url, timeout_s=2)
    card = SavedCard(customer_ref="cus_x", payment_method_ref="pm_x")
    try:
        with pytest.raises(GatewayUnavailable):
            gateway.save_card(customer_ref=None, token="pm_card_visa", reference="pat-1")
        with pytest.raises(GatewayUnavailable):
            gateway.charge(_charge(card, "down-1"))
        with pytest.raises(GatewayUnavailable):
            gateway.refund(idempotency_key="down-1:r", charge_reference="pi_x", amount_cents=1)
    finally:
        gateway.close()


class _CannedServer:
    """A loopback HTTP server answering every request with one fixed status and JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (500, "api_error", GatewayUnavailable),
        (503, "api_error", GatewayUnavailable),
        (429, "rate_limit_error", GatewayUnavailable),
        (401, "invalid_request_error", GatewayError),
    ],
)
def test_server_errors_are_translated(status: int, error_type: str, expected: type[GatewayError]) -> None:
    server = _CannedServer(status, {"error": {"type": error_type, "message": "canned"}})
    # No retries: the point is the translation, not the SDK's back-off.
    gateway = StripeGateway(TEST_API_KEY, api_base=server.url, max_network_retries=0)
    card = SavedCard(customer_ref="cus_x", payment_method_ref="pm_x")
    try:
        with pytest.raises(expected) as caught:
            gateway.charge(_charge(card, f"canned-{status}"))
        if expected is GatewayError:
            # A bad key is a configuration fault, not "try again later".
            assert not isinstance(caught.value, GatewayUnavailable)
    finally:
        gateway.close()
        server.close()


# -- webhooks -------------------------------------------------------------------------------


def _event_body(**obj: Any) -> bytes:
    event = {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"object": "payment_intent", "id": "pi_1", **obj}},
    }
    return json.dumps(event).encode()


def test_webhook_with_valid_signature_is_parsed() -> None:
    body = _event_body(amount=1_200, metadata={"invoice_id": "inv-9"})
    header = sign_stripe_payload(body, WEBHOOK_SECRET, int(time.time()))

    event = parse_stripe_event(body, header, WEBHOOK_SECRET)

    assert (event.id, event.type, event.payment_intent_id) == (
        "evt_1",
        "payment_intent.succeeded",
        "pi_1",
    )
    assert event.metadata == {"invoice_id": "inv-9"}
    assert event.amount == 1_200


def test_webhook_with_tampered_body_is_rejected() -> None:
    body = _event_body(amount=1_200)
    header = sign_stripe_payload(body, WEBHOOK_SECRET, int(time.time()))
    with pytest.raises(InvalidWebhookSignature):
        parse_stripe_event(body.replace(b"1200", b"9999"), header, WEBHOOK_SECRET)


def test_webhook_signed_with_another_secret_is_rejected() -> None:
    body = _event_body()
    header = sign_stripe_payload(body, "whsec_someone_else", int(time.time()))
    with pytest.raises(InvalidWebhookSignature):
        parse_stripe_event(body, header, WEBHOOK_SECRET)


def test_webhook_with_stale_timestamp_is_rejected() -> None:
    body = _event_body()
    header = sign_stripe_payload(body, WEBHOOK_SECRET, int(time.time()) - 301)
    with pytest.raises(InvalidWebhookSignature):
        parse_stripe_event(body, header, WEBHOOK_SECRET)


@pytest.mark.parametrize("header", ["", "garbage", "t=abc,v1=00", "v1=deadbeef"])
def test_webhook_with_malformed_header_is_rejected(header: str) -> None:
    with pytest.raises(InvalidWebhookSignature):
        parse_stripe_event(_event_body(), header, WEBHOOK_SECRET)


@pytest.mark.parametrize("body", [b"not json", b"[null, null]", b'"evt_1"', b"7", b"[" * 500 + b"]" * 500])
def test_a_signed_body_not_an_event_object_is_a_payload_error_not_a_bad_signature(body: bytes) -> None:
    # Signed, so not a signature problem (the API keeps it and answers 422); never handed to the SDK's
    # event constructor, which called `.get` on an array and crashed.
    header = sign_stripe_payload(body, WEBHOOK_SECRET, int(time.time()))
    with pytest.raises(WebhookPayloadError) as refused:
        parse_stripe_event(body, header, WEBHOOK_SECRET)
    assert refused.value.field == "body"


def test_a_body_that_is_not_utf8_cannot_be_verified() -> None:
    body = b'{"id": "evt_\xff"}'
    header = sign_stripe_payload(body, WEBHOOK_SECRET, int(time.time()))
    with pytest.raises(InvalidWebhookSignature):
        parse_stripe_event(body, header, WEBHOOK_SECRET)


class _WebhookReceiver:
    """Collects (raw body, Stripe-Signature) pairs that localstripe POSTs to us."""

    def __init__(self) -> None:
        received: queue.Queue[tuple[bytes, str]] = queue.Queue()
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.put((body, self.headers.get("Stripe-Signature", "")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_localstripe_webhooks_verify_and_carry_the_charge(
    stripe_gateway: StripeGateway, localstripe_url: str
) -> None:
    """End to end: webhooks signed by localstripe itself pass our verification."""
    receiver = _WebhookReceiver()
    try:
        httpx.post(
            f"{localstripe_url}/_config/webhooks/adapter-tests",
            json={
                "url": receiver.url,
                "secret": WEBHOOK_SECRET,
                "events": ["payment_intent.succeeded", "payment_intent.payment_failed"],
            },
            timeout=5,
        ).raise_for_status()
        good = stripe_gateway.save_card(customer_ref=None, token="pm_card_visa", reference="p-1")
        bad = stripe_gateway.save_card(customer_ref=None, token="pm_card_chargeCustomerFail", reference="p-2")
        paid = stripe_gateway.charge(_charge(good, "hook-ok", amount=2_500))
        stripe_gateway.charge(_charge(bad, "hook-fail", amount=2_600))

        events: dict[str | None, StripeEvent] = {}
        deadline = time.monotonic() + 10  # localstripe waits 1 s before each delivery
        # Wait for these two charges' events by name: a charge an earlier test made on this worker's
        # localstripe may still be delivered here, and two of anything used to end the wait.
        while not {"inv-hook-ok", "inv-hook-fail"} <= events.keys() and time.monotonic() < deadline:
            try:
                body, signature = receiver.received.get(timeout=0.5)
            except queue.Empty:
                continue
            event = parse_stripe_event(body, signature, WEBHOOK_SECRET)
            events[event.metadata.get("invoice_id")] = event
    finally:
        receiver.close()

    succeeded = events["inv-hook-ok"]
    assert succeeded.type == "payment_intent.succeeded"
    assert succeeded.payment_intent_id == paid.reference
    assert succeeded.amount == 2_500
    failed = events["inv-hook-fail"]
    assert failed.type == "payment_intent.payment_failed"
    assert failed.decline_code == "card_declined"
    assert failed.message == "Your card was declined."


def test_find_charge_asks_localstripe_by_our_key(stripe_gateway: StripeGateway, localstripe_url: str) -> None:
    """The reconciler's question: what happened under this key? localstripe ignores keys, so a
    second `charge` would pay twice; `find_charge` finds the first intent by its metadata."""
    card = stripe_gateway.save_card(customer_ref=None, token="pm_card_visa", reference="pat-find")
    assert (
        stripe_gateway.find_charge(idempotency_key="inv-x-attempt-1", customer_ref=card.customer_ref) is None
    )
    paid = stripe_gateway.charge(_charge(card, "inv-x-attempt-1"))
    other = stripe_gateway.charge(_charge(card, "inv-y-attempt-1", amount=1_000))
    found = stripe_gateway.find_charge(idempotency_key="inv-x-attempt-1", customer_ref=card.customer_ref)
    assert found is not None and found.succeeded and found.reference == paid.reference
    assert found.reference != other.reference
    intent = _api(localstripe_url, f"/v1/payment_intents/{paid.reference}")
    assert intent["metadata"]["ledger_idempotency_key"] == "inv-x-attempt-1"


def test_find_charge_reports_a_decline(stripe_gateway: StripeGateway) -> None:
    card = stripe_gateway.save_card(
        customer_ref=None, token="pm_card_chargeCustomerFail", reference="pat-find-declined"
    )
    declined = stripe_gateway.charge(_charge(card, "inv-d-attempt-1"))
    assert not declined.succeeded
    found = stripe_gateway.find_charge(idempotency_key="inv-d-attempt-1", customer_ref=card.customer_ref)
    assert found is not None and not found.succeeded
    assert found.decline_code == "card_declined"
