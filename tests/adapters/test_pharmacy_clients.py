"""LifeFile and DispensePro clients against the pharmacy sandbox over real loopback HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.pharmacy import (
    DispenseProClient,
    LifeFileClient,
    PharmacyLine,
    PharmacyOrder,
    PharmacyPrescriber,
    PharmacyRejected,
    PharmacyUnavailable,
    parse_pharmacy_webhook,
    pharmacy_client,
)
from adapters.sandbox.pharmacy_server import create_pharmacy_sandbox
from adapters.sandbox.runner import RunningServer, serve_in_thread
from adapters.webhook_signature import InvalidSignature, WebhookPayloadError, verify

pytestmark = pytest.mark.timeout(30)

API_KEY = "pharm_test_key"
SECRET = "pharm_whsec"
PARTNERS = ["belmar", "dispensepro"]


@dataclass
class Receiver:
    """Stands in for `POST /webhooks/pharmacies/{partner}`: verifies, then keeps what it got."""

    url: str = ""
    received: list[tuple[str, bytes]] = field(default_factory=list)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        try:
            verify(SECRET, request.headers.get("x-signature"), body, now=int(time.time()))
        except InvalidSignature:
            return Response(status_code=401)
        self.received.append((request.path_params["partner"], body))
        return Response(status_code=202)

    def url_for(self, partner: str) -> str:
        return f"{self.url}/webhooks/pharmacies/{partner}"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    recv = Receiver()
    app = Starlette(routes=[Route("/webhooks/pharmacies/{partner}", recv.endpoint, methods=["POST"])])
    with serve_in_thread(app) as srv:
        recv.url = srv.url
        yield recv


@pytest.fixture
def pharmacy(receiver: Receiver) -> Iterator[RunningServer]:
    with serve_in_thread(create_pharmacy_sandbox(receiver.url_for, SECRET, API_KEY)) as srv:
        yield srv


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


DR = PharmacyPrescriber(name="Dr Ada Wide", npi="1234567893", dea_number="AB1234563")


def order(
    partner: str,
    order_id: str = "ord_1",
    lines: int = 1,
    prescriber: PharmacyPrescriber | None = DR,
    controlled: bool = False,
    sig: str = "Inject 0.25 mg subcutaneously once weekly",
) -> PharmacyOrder:
    return PharmacyOrder(
        order_id=order_id,
        partner=partner,
        lines=tuple(PharmacyLine(f"SEMA-{i}", 2, sig, controlled) for i in range(lines)),
        patient_ref="pat_42",
        patient_state="FL",
        prescriber=prescriber,
    )


def orders(srv: RunningServer, http: httpx.Client) -> list[dict[str, object]]:
    result: list[dict[str, object]] = http.get(f"{srv.url}/_sandbox/orders").json()
    return result


def test_factory_picks_the_partner_client(http: httpx.Client) -> None:
    assert isinstance(pharmacy_client("belmar", "http://x", "k", http), LifeFileClient)
    assert isinstance(pharmacy_client("dispensepro", "http://x", "k", http), DispenseProClient)
    with pytest.raises(ValueError, match="unknown pharmacy partner"):
        pharmacy_client("acme", "http://x", "k", http)


def test_lifefile_wire_format(pharmacy: RunningServer, http: httpx.Client) -> None:
    sub = pharmacy_client("belmar", pharmacy.url, API_KEY, http).submit_order(order("belmar"))
    assert (sub.partner, sub.order_id, sub.status, sub.created) == ("belmar", "ord_1", "received", True)
    [stored] = orders(pharmacy, http)
    assert stored["orderId"] == sub.external_id
    assert stored["request"] == {
        "referenceId": "ord_1",
        "practice": {"id": "refill-ledger"},
        "patient": {"ref": "pat_42", "state": "FL"},
        "prescriber": {"name": "Dr Ada Wide", "npi": "1234567893", "dea": "AB1234563"},
        "rxs": [
            {
                "productCode": "SEMA-0",
                "quantity": 2,
                "sig": "Inject 0.25 mg subcutaneously once weekly",
                "controlled": False,
            }
        ],
        "shipping": {"method": "standard", "state": "FL"},
    }


def test_dispensepro_wire_format(pharmacy: RunningServer, http: httpx.Client) -> None:
    sub = pharmacy_client("dispensepro", pharmacy.url, API_KEY, http).submit_order(order("dispensepro"))
    assert sub.external_id.startswith("dp_")
    [stored] = orders(pharmacy, http)
    assert stored["request"] == {
        "external_order_id": "ord_1",
        "patient_ref": "pat_42",
        "ship_to_state": "FL",
        "prescriber": {"full_name": "Dr Ada Wide", "npi": "1234567893", "dea_number": "AB1234563"},
        "items": [
            {
                "ndc_or_code": "SEMA-0",
                "qty": 2,
                "directions": "Inject 0.25 mg subcutaneously once weekly",
                "controlled": False,
            }
        ],
    }


@pytest.mark.parametrize("partner", PARTNERS)
def test_repeat_submission_never_creates_a_second_order(
    pharmacy: RunningServer, http: httpx.Client, partner: str
) -> None:
    client = pharmacy_client(partner, pharmacy.url, API_KEY, http)
    first = client.submit_order(order(partner))
    again = client.submit_order(order(partner))

    assert again.external_id == first.external_id
    assert (first.created, again.created) == (True, False)
    [stored] = orders(pharmacy, http)
    assert stored["submissions"] == 2


@pytest.mark.parametrize("partner", PARTNERS)
def test_invalid_order_is_rejected_naming_the_field(
    pharmacy: RunningServer, http: httpx.Client, partner: str
) -> None:
    client = pharmacy_client(partner, pharmacy.url, API_KEY, http)
    with pytest.raises(PharmacyRejected) as err:
        client.submit_order(order(partner, lines=0))
    assert err.value.code in ("INVALID_ORDER", "invalid_order")
    assert ("rxs" if partner == "belmar" else "items") in err.value.message
    assert orders(pharmacy, http) == []


@pytest.mark.parametrize("partner", PARTNERS)
def test_the_sandboxes_reject_an_order_without_prescriber_npi_sig_or_needed_dea(
    pharmacy: RunningServer, http: httpx.Client, partner: str
) -> None:
    client = pharmacy_client(partner, pharmacy.url, API_KEY, http)
    name, npi, dea = ("name", "npi", "dea") if partner == "belmar" else ("full_name", "npi", "dea_number")
    refused = {
        "prescriber": order(partner, prescriber=None),
        f"prescriber.{name}": order(partner, prescriber=PharmacyPrescriber(name=" ", npi="1234567893")),
        f"prescriber.{npi}": order(partner, prescriber=PharmacyPrescriber(name="Dr A", npi="12345")),
        f"prescriber.{dea}": order(
            partner, prescriber=PharmacyPrescriber("Dr A", "1234567893"), controlled=True
        ),
        ".sig" if partner == "belmar" else ".directions": order(partner, sig=""),
    }
    for field_name, bad in refused.items():
        with pytest.raises(PharmacyRejected) as err:
            client.submit_order(bad)
        assert err.value.code in ("INVALID_ORDER", "invalid_order")
        assert err.value.message.endswith(field_name), (field_name, err.value.message)
    assert orders(pharmacy, http) == []
    # a controlled line with the DEA number, and a network prescription by reference, are accepted
    assert client.submit_order(order(partner, "ord_c", controlled=True)).created
    network = PharmacyPrescriber(rx_reference="beluga-master-7")
    assert client.submit_order(order(partner, "ord_n", prescriber=network)).created
    sent = {o["referenceId"]: o["request"] for o in orders(pharmacy, http)}
    reference = "rxReference" if partner == "belmar" else "rx_reference"
    assert sent["ord_n"]["prescriber"] == {reference: "beluga-master-7"}  # type: ignore[index]


@pytest.mark.parametrize("partner", PARTNERS)
def test_injected_rejection_carries_the_partner_code(
    pharmacy: RunningServer, http: httpx.Client, partner: str
) -> None:
    http.post(
        f"{pharmacy.url}/_sandbox/fail-next",
        json={"status": 422, "code": "OUT_OF_STOCK", "message": "no vials"},
    )
    with pytest.raises(PharmacyRejected) as err:
        pharmacy_client(partner, pharmacy.url, API_KEY, http).submit_order(order(partner))
    assert (err.value.code, err.value.message) == ("OUT_OF_STOCK", "no vials")


@pytest.mark.parametrize("partner", PARTNERS)
def test_wrong_api_key_is_rejected(pharmacy: RunningServer, http: httpx.Client, partner: str) -> None:
    with pytest.raises(PharmacyRejected) as err:
        pharmacy_client(partner, pharmacy.url, "wrong", http).submit_order(order(partner))
    assert err.value.code.lower() == "unauthorized"


@pytest.mark.parametrize("partner", PARTNERS)
def test_5xx_is_unavailable_then_retry_creates_exactly_one(
    pharmacy: RunningServer, http: httpx.Client, partner: str
) -> None:
    http.post(f"{pharmacy.url}/_sandbox/fail-next", json={"status": 502})
    client = pharmacy_client(partner, pharmacy.url, API_KEY, http)
    with pytest.raises(PharmacyUnavailable):
        client.submit_order(order(partner))
    client.submit_order(order(partner))
    client.submit_order(order(partner))
    assert len(orders(pharmacy, http)) == 1


@pytest.mark.parametrize("partner", PARTNERS)
def test_unreachable_is_unavailable(http: httpx.Client, partner: str) -> None:
    with serve_in_thread(Starlette()) as gone:
        url = gone.url
    with pytest.raises(PharmacyUnavailable) as err:
        pharmacy_client(partner, url, API_KEY, http).submit_order(order(partner))
    assert isinstance(err.value.__cause__, httpx.HTTPError)


def test_same_order_id_at_two_partners_is_two_orders(pharmacy: RunningServer, http: httpx.Client) -> None:
    for partner in PARTNERS:
        pharmacy_client(partner, pharmacy.url, API_KEY, http).submit_order(order(partner))
    assert len(orders(pharmacy, http)) == 2
    ambiguous = http.post(f"{pharmacy.url}/_sandbox/orders/ord_1/status/accepted")
    assert ambiguous.status_code == 409
    ok = http.post(f"{pharmacy.url}/_sandbox/orders/ord_1/status/accepted?partner=dispensepro")
    assert ok.json()["status"] == 202


@pytest.mark.parametrize("partner", PARTNERS)
def test_status_webhooks_are_signed_routed_and_parse(
    pharmacy: RunningServer, receiver: Receiver, http: httpx.Client, partner: str
) -> None:
    sub = pharmacy_client(partner, pharmacy.url, API_KEY, http).submit_order(order(partner, "ord_ship"))
    before = len(receiver.received)

    accepted = http.post(f"{pharmacy.url}/_sandbox/orders/ord_ship/status/accepted").json()
    shipped = http.post(
        f"{pharmacy.url}/_sandbox/orders/ord_ship/status/shipped",
        json={"carrier": "FedEx", "tracking": "7777"},
    ).json()

    assert (accepted["status"], shipped["status"]) == (202, 202)
    got = receiver.received[before:]
    assert [p for p, _ in got] == [partner, partner]
    hooks = [parse_pharmacy_webhook(body) for _, body in got]
    assert [h.status for h in hooks] == ["accepted", "shipped"]
    assert {h.reference_id for h in hooks} == {"ord_ship"}
    assert {h.order_id for h in hooks} == {sub.external_id}
    assert (hooks[1].carrier, hooks[1].tracking) == ("FedEx", "7777")
    assert hooks[0].event_id != hooks[1].event_id
    assert [o["status"] for o in orders(pharmacy, http)] == ["shipped"]


def test_rejected_webhook_carries_a_reason(
    pharmacy: RunningServer, receiver: Receiver, http: httpx.Client
) -> None:
    pharmacy_client("belmar", pharmacy.url, API_KEY, http).submit_order(order("belmar", "ord_r"))
    sent = http.post(
        f"{pharmacy.url}/_sandbox/orders/ord_r/status/rejected", json={"reason": "prescriber license lapsed"}
    ).json()
    assert sent["status"] == 202
    assert parse_pharmacy_webhook(receiver.received[-1][1]).reason == "prescriber license lapsed"


def test_sandbox_control_errors(pharmacy: RunningServer, http: httpx.Client) -> None:
    assert http.post(f"{pharmacy.url}/_sandbox/orders/none/status/shipped").status_code == 404
    assert http.post(f"{pharmacy.url}/_sandbox/orders/none/status/lost").status_code == 400


def test_wrong_secret_is_refused_by_the_receiver(receiver: Receiver, http: httpx.Client) -> None:
    with serve_in_thread(create_pharmacy_sandbox(receiver.url_for, "nope", API_KEY)) as srv:
        pharmacy_client("belmar", srv.url, API_KEY, http).submit_order(order("belmar"))
        sent = http.post(f"{srv.url}/_sandbox/orders/ord_1/status/accepted").json()
    assert sent["status"] == 401


GOOD = {
    "eventId": "evt_1",
    "referenceId": "ord_1",
    "orderId": "LF1",
    "status": "shipped",
    "occurredAt": "2025-03-01T12:00:00+00:00",
    "reason": None,
    "carrier": "UPS",
    "tracking": "1Z",
}


def test_parser_reads_a_good_body() -> None:
    hook = parse_pharmacy_webhook(json.dumps(GOOD).encode())
    assert (hook.reference_id, hook.order_id, hook.carrier, hook.reason) == ("ord_1", "LF1", "UPS", None)


@pytest.mark.parametrize(
    ("change", "field_name"),
    [
        ({"eventId": None}, "eventId"),
        ({"referenceId": ""}, "referenceId"),
        ({"orderId": 12}, "orderId"),
        ({"status": "lost"}, "status"),
        ({"status": None}, "status"),
        ({"occurredAt": "01/03/2025"}, "occurredAt"),
        ({"reason": 5}, "reason"),
        ({"carrier": ["UPS"]}, "carrier"),
        ({"tracking": {}}, "tracking"),
    ],
)
def test_parser_names_the_bad_field(change: dict[str, object], field_name: str) -> None:
    with pytest.raises(WebhookPayloadError) as err:
        parse_pharmacy_webhook(json.dumps({**GOOD, **change}).encode())
    assert err.value.field == field_name


@pytest.mark.parametrize("body", [b"", b"{", b'"shipped"'])
def test_parser_rejects_non_objects(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError) as err:
        parse_pharmacy_webhook(body)
    assert err.value.field == "body"


@pytest.mark.parametrize("partner", PARTNERS)
def test_cancel_stops_the_order_repeatably_and_is_refused_once_shipped(
    pharmacy: RunningServer, http: httpx.Client, partner: str
) -> None:
    client = pharmacy_client(partner, pharmacy.url, API_KEY, http)
    assert client.cancel_order("ord_never").canceled is False  # 404: nothing to stop
    client.submit_order(order(partner))
    assert client.cancel_order("ord_1").canceled
    assert client.cancel_order("ord_1").canceled  # a retried cancel is harmless
    [stored] = orders(pharmacy, http)
    assert (stored["status"], stored["cancellations"]) == ("canceled", 2)

    client.submit_order(order(partner, order_id="ord_2"))
    http.post(f"{pharmacy.url}/_sandbox/orders/ord_2/status/shipped", json={})
    with pytest.raises(PharmacyRejected) as err:
        client.cancel_order("ord_2")
    assert err.value.code.upper() == "TOO_LATE"
    http.post(f"{pharmacy.url}/_sandbox/fail-next", json={"status": 503})
    with pytest.raises(PharmacyUnavailable):
        client.cancel_order("ord_1")
