"""BelugaClient against the Beluga sandbox over real loopback HTTP, and the webhook parser."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.beluga import (
    BelugaClient,
    BelugaRejected,
    BelugaUnavailable,
    RequestedMed,
    VisitSubmission,
    parse_beluga_webhook,
)
from adapters.sandbox.beluga_server import create_beluga_sandbox
from adapters.sandbox.runner import RunningServer, serve_in_thread
from adapters.webhook_signature import InvalidSignature, WebhookPayloadError, verify

pytestmark = pytest.mark.timeout(30)

API_KEY = "beluga_test_key"
SECRET = "beluga_whsec"


@dataclass
class Receiver:
    """A stand-in for the ledger's webhook endpoint: verifies, then keeps what it got."""

    url: str = ""
    received: list[bytes] = field(default_factory=list)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        try:
            verify(SECRET, request.headers.get("x-signature"), body, now=int(time.time()))
        except InvalidSignature:
            return Response(status_code=401)
        self.received.append(body)
        return Response(status_code=204)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    recv = Receiver()
    app = Starlette(routes=[Route("/hook", recv.endpoint, methods=["POST"])])
    with serve_in_thread(app) as srv:
        recv.url = f"{srv.url}/hook"
        yield recv


@pytest.fixture
def beluga(receiver: Receiver) -> Iterator[RunningServer]:
    # A fresh sandbox per test: counts of visits are then exact.
    with serve_in_thread(create_beluga_sandbox(receiver.url, SECRET, API_KEY)) as srv:
        yield srv


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


def visit(master_id: str = "mv_ord_1", **overrides: object) -> VisitSubmission:
    fields: dict[str, object] = {
        "master_id": master_id,
        "visit_type": "weight_loss_refill",
        "patient_ref": "pat_42",
        "patient_state": "TX",
        "meds": (RequestedMed("med_sema_2_5", "Semaglutide 2.5mg/mL", 1),),
        "pharmacy": "belmar",
        "order_id": "ord_1",
        "lab_method": None,
    }
    fields.update(overrides)
    return VisitSubmission(**fields)  # type: ignore[arg-type]


def test_submit_creates_one_visit_with_our_wire_format(beluga: RunningServer, http: httpx.Client) -> None:
    accepted = BelugaClient(beluga.url, API_KEY, http).submit_visit(visit())

    assert accepted.master_id == "mv_ord_1"
    assert accepted.status == "received"
    assert accepted.visit_id.startswith("vis_")
    assert accepted.created is True
    [stored] = http.get(f"{beluga.url}/_sandbox/visits").json()
    assert stored["request"] == {
        "masterId": "mv_ord_1",
        "visitType": "weight_loss_refill",
        "patient": {"ref": "pat_42", "state": "TX"},
        "medsRequested": [{"medId": "med_sema_2_5", "name": "Semaglutide 2.5mg/mL", "quantity": 1}],
        "pharmacy": "belmar",
        "labMethod": None,
        "referenceId": "ord_1",
        "intakeRef": None,
        "callbackUrl": None,
    }


def test_retry_with_same_master_id_returns_the_same_visit(beluga: RunningServer, http: httpx.Client) -> None:
    client = BelugaClient(beluga.url, API_KEY, http)
    first = client.submit_visit(visit())
    again = client.submit_visit(visit())

    assert again.visit_id == first.visit_id
    assert again.created is False
    visits = http.get(f"{beluga.url}/_sandbox/visits").json()
    assert len(visits) == 1
    assert visits[0]["submissions"] == 2


def test_validation_failure_is_a_rejection(beluga: RunningServer, http: httpx.Client) -> None:
    with pytest.raises(BelugaRejected) as err:
        BelugaClient(beluga.url, API_KEY, http).submit_visit(visit(meds=()))
    assert err.value.code == "INVALID_REQUEST"
    assert "medsRequested" in err.value.message
    assert http.get(f"{beluga.url}/_sandbox/visits").json() == []


def test_injected_422_maps_to_rejected_with_vendor_code(beluga: RunningServer, http: httpx.Client) -> None:
    http.post(
        f"{beluga.url}/_sandbox/fail-next",
        json={"status": 422, "code": "UNKNOWN_MED", "message": "medId not mapped"},
    )
    with pytest.raises(BelugaRejected) as err:
        BelugaClient(beluga.url, API_KEY, http).submit_visit(visit())
    assert (err.value.code, err.value.message) == ("UNKNOWN_MED", "medId not mapped")


def test_wrong_api_key_is_rejected(beluga: RunningServer, http: httpx.Client) -> None:
    with pytest.raises(BelugaRejected) as err:
        BelugaClient(beluga.url, "wrong", http).submit_visit(visit())
    assert err.value.code == "UNAUTHORIZED"


def test_5xx_is_unavailable_and_a_retry_then_succeeds(beluga: RunningServer, http: httpx.Client) -> None:
    http.post(f"{beluga.url}/_sandbox/fail-next", json={"status": 503})
    client = BelugaClient(beluga.url, API_KEY, http)
    with pytest.raises(BelugaUnavailable) as err:
        client.submit_visit(visit())
    assert isinstance(err.value, BelugaUnavailable)
    assert client.submit_visit(visit()).created is True
    assert len(http.get(f"{beluga.url}/_sandbox/visits").json()) == 1


def test_unreachable_server_is_unavailable(http: httpx.Client) -> None:
    with serve_in_thread(Starlette()) as gone:
        url = gone.url
    with pytest.raises(BelugaUnavailable) as err:
        BelugaClient(url, API_KEY, http).submit_visit(visit())
    assert isinstance(err.value.__cause__, httpx.HTTPError)


def test_rx_written_webhook_is_signed_and_parses(
    beluga: RunningServer, receiver: Receiver, http: httpx.Client
) -> None:
    BelugaClient(beluga.url, API_KEY, http).submit_visit(visit("mv_rx"))
    before = len(receiver.received)

    sent = http.post(f"{beluga.url}/_sandbox/visits/mv_rx/rx-written").json()

    assert sent["status"] == 204  # the receiver verified the signature
    [body] = receiver.received[before:]
    hook = parse_beluga_webhook(body)
    assert hook.event == "RX_WRITTEN"
    assert hook.master_id == "mv_rx"
    assert hook.event_id == sent["payload"]["eventId"]
    assert [(m.med_id, m.name) for m in hook.meds_prescribed] == [("med_sema_2_5", "Semaglutide 2.5mg/mL")]
    assert hook.occurred_at.tzinfo is not None


def test_rx_written_for_chosen_meds_and_redelivery(
    beluga: RunningServer, receiver: Receiver, http: httpx.Client
) -> None:
    BelugaClient(beluga.url, API_KEY, http).submit_visit(visit("mv_other"))
    sent = http.post(
        f"{beluga.url}/_sandbox/visits/mv_other/rx-written", json={"medIds": ["med_tirz_5"]}
    ).json()
    assert sent["payload"]["medsPrescribed"] == [{"medId": "med_tirz_5", "name": "med_tirz_5"}]

    again = http.post(f"{beluga.url}/_sandbox/events/{sent['payload']['eventId']}/redeliver")
    assert again.json()["payload"] == sent["payload"]
    assert again.json()["status"] == 204
    assert receiver.received[-1] == receiver.received[-2]


@pytest.mark.parametrize(
    ("event", "outcome"), [("CONSULT_CONCLUDED", "concluded"), ("CONSULT_CANCELED", "canceled")]
)
def test_consult_events(
    beluga: RunningServer, receiver: Receiver, http: httpx.Client, event: str, outcome: str
) -> None:
    BelugaClient(beluga.url, API_KEY, http).submit_visit(visit("mv_c"))
    sent = http.post(f"{beluga.url}/_sandbox/visits/mv_c/events/{event}").json()
    assert sent["status"] == 204
    hook = parse_beluga_webhook(receiver.received[-1])
    assert (hook.event, hook.visit_outcome, hook.meds_prescribed) == (event, outcome, ())


def test_sandbox_control_errors(beluga: RunningServer, http: httpx.Client) -> None:
    assert http.post(f"{beluga.url}/_sandbox/visits/nope/rx-written").status_code == 404
    BelugaClient(beluga.url, API_KEY, http).submit_visit(visit("mv_x"))
    assert http.post(f"{beluga.url}/_sandbox/visits/mv_x/events/BOGUS").status_code == 400


def test_wrong_secret_is_refused_by_the_receiver(receiver: Receiver, http: httpx.Client) -> None:
    with serve_in_thread(create_beluga_sandbox(receiver.url, "not-the-secret", API_KEY)) as srv:
        BelugaClient(srv.url, API_KEY, http).submit_visit(visit("mv_bad"))
        sent = http.post(f"{srv.url}/_sandbox/visits/mv_bad/rx-written").json()
    assert sent["status"] == 401


GOOD = {
    "event": "RX_WRITTEN",
    "eventId": "evt_1",
    "masterId": "mv_1",
    "occurredAt": "2025-03-01T12:00:00Z",
    "medsPrescribed": [{"medId": "med_a", "name": "A"}],
    "visitOutcome": None,
}


def test_parser_reads_a_good_body_in_utc() -> None:
    body = json.dumps({**GOOD, "occurredAt": "2025-03-01T07:00:00-05:00"}).encode()
    hook = parse_beluga_webhook(body)
    assert hook.occurred_at == datetime(2025, 3, 1, 12, tzinfo=UTC)
    assert hook.visit_outcome is None


@pytest.mark.parametrize(
    ("change", "field_name"),
    [
        ({"event": None}, "event"),
        ({"eventId": ""}, "eventId"),
        ({"masterId": 7}, "masterId"),
        ({"occurredAt": "yesterday"}, "occurredAt"),
        ({"occurredAt": "2025-03-01T12:00:00"}, "occurredAt"),
        ({"medsPrescribed": "med_a"}, "medsPrescribed"),
        ({"medsPrescribed": []}, "medsPrescribed"),
        ({"medsPrescribed": ["med_a"]}, "medsPrescribed[0]"),
        ({"medsPrescribed": [{"name": "A"}]}, "medsPrescribed[0].medId"),
        ({"visitOutcome": 3}, "visitOutcome"),
    ],
)
def test_parser_names_the_bad_field(change: dict[str, object], field_name: str) -> None:
    with pytest.raises(WebhookPayloadError) as err:
        parse_beluga_webhook(json.dumps({**GOOD, **change}).encode())
    assert err.value.field == field_name


@pytest.mark.parametrize("body", [b"", b"not json", b"[1]", b"\xff\xfe"])
def test_parser_rejects_non_objects(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError) as err:
        parse_beluga_webhook(body)
    assert err.value.field == "body"
