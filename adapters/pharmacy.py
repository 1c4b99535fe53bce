"""Compounding pharmacies: order submission (LifeFile for Belmar, DispensePro) and their webhooks.

Both partners dedupe on OUR order id, so a retry after a crash or timeout returns the existing
pharmacy order (200) instead of compounding twice. Wire formats (ours to fix; the sandbox in
`adapters.sandbox.pharmacy_server` speaks them):

LifeFile  `POST {base}/lifefile/v1/orders`, `Authorization: Bearer <key>`:
    {"referenceId", "practice": {"id"}, "patient": {"ref", "state"},
     "prescriber": {"name", "npi", "dea"?} | {"rxReference"},
     "rxs": [{"productCode", "quantity", "sig", "controlled"}], "shipping": {"method", "state"}}
  201 new / 200 repeat -> {"orderId", "status": "received"};  422 -> {"error": {"code", "message"}}
DispensePro  `POST {base}/dispensepro/api/orders`, `X-Api-Key: <key>`:
    {"external_order_id", "patient_ref", "ship_to_state",
     "prescriber": {"full_name", "npi", "dea_number"?} | {"rx_reference"},
     "items": [{"ndc_or_code", "qty", "directions", "controlled"}]}
  201 new / 200 repeat -> {"id", "state"};  422 -> {"error_code", "detail"}
Cancellation (a refund or cancel after submission), keyed by OUR order id as submitted:
  LifeFile `POST {base}/lifefile/v1/orders/{referenceId}/cancel`; DispensePro
  `POST {base}/dispensepro/api/orders/{external_order_id}/cancel`.
  200 -> canceled (repeatable); 404 -> the partner never had it; 409 -> too late (shipped).
The prescriber travels with every order: a clinic's own (name, NPI, and DEA number when a line is a
controlled product), or for a telehealth network's prescription its reference. Both sandboxes
reject an order without one, a SIG-less line, or a controlled line without a DEA number.
Webhook (both, signed, `POST /webhooks/pharmacies/{partner}`):
    {"eventId", "referenceId", "orderId", "status", "occurredAt", "reason", "carrier", "tracking"}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from adapters.webhook_signature import (
    WebhookPayloadError,
    load_object,
    optional_str,
    required_str,
    required_time,
)

BELMAR = "belmar"
DISPENSEPRO = "dispensepro"
WEBHOOK_STATUSES = frozenset({"accepted", "rejected", "processing", "shipped", "delivered"})


class PharmacyError(Exception):
    """Base for errors raised instead of httpx's own."""


class PharmacyUnavailable(PharmacyError):
    """Unreachable or a server error: outcome unknown, retry with the same order id."""


class PharmacyRejected(PharmacyError):
    """The pharmacy refused the order; retrying unchanged will not help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PharmacyLine:
    product_code: str
    quantity: int
    sig: str  # directions for use, as the prescriber wrote them
    controlled: bool = False  # a scheduled substance: the prescriber's DEA number must come along


@dataclass(frozen=True)
class PharmacyPrescriber:
    """Who prescribed: a clinic's prescriber by name and NPI (DEA where needed), or a reference to
    a telehealth network's prescription, whose prescriber the pharmacy looks up itself."""

    name: str | None = None
    npi: str | None = None
    dea_number: str | None = None
    rx_reference: str | None = None


@dataclass(frozen=True)
class PharmacyOrder:
    order_id: str  # ours: the partner's dedupe key
    partner: str
    lines: tuple[PharmacyLine, ...]
    patient_ref: str  # opaque; the pharmacy gets identity and address from the prescription
    patient_state: str
    prescriber: PharmacyPrescriber | None = None


@dataclass(frozen=True)
class PharmacySubmission:
    partner: str
    order_id: str
    external_id: str  # the pharmacy's own order id
    status: str
    created: bool  # False when the partner already had this order id (a retry)


@dataclass(frozen=True)
class PharmacyCancellation:
    partner: str
    order_id: str
    canceled: bool  # False: the partner never had this order (nothing to stop)


class PharmacyClient(Protocol):
    partner: str

    def submit_order(self, order: PharmacyOrder) -> PharmacySubmission: ...

    def cancel_order(self, order_id: str) -> PharmacyCancellation:
        """Ask the partner to stop the order submitted under our `order_id`; repeatable.
        Raises `PharmacyRejected` when it is too late, `PharmacyUnavailable` when unreachable."""
        ...


ErrorReader = Callable[[Any], tuple[str, str]]


def _post(
    client: httpx.Client, url: str, payload: dict[str, Any], headers: dict[str, str], read_error: ErrorReader
) -> httpx.Response:
    try:
        response = client.post(url, json=payload, headers=headers)
    except httpx.HTTPError as exc:
        raise PharmacyUnavailable(f"POST {url} failed: {type(exc).__name__}") from exc
    if response.status_code in (200, 201):
        return response
    if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
        try:
            code, message = read_error(response.json())
        except (ValueError, KeyError, TypeError):
            code, message = f"HTTP_{response.status_code}", response.reason_phrase
        raise PharmacyRejected(code, message)
    raise PharmacyUnavailable(f"POST {url} answered {response.status_code}")


def _cancel(
    client: httpx.Client,
    partner: str,
    url: str,
    order_id: str,
    headers: dict[str, str],
    read_error: ErrorReader,
) -> PharmacyCancellation:
    try:
        response = client.post(url, headers=headers)
    except httpx.HTTPError as exc:
        raise PharmacyUnavailable(f"POST {url} failed: {type(exc).__name__}") from exc
    if response.status_code == 404:
        return PharmacyCancellation(partner, order_id, canceled=False)
    if response.status_code == 200:
        return PharmacyCancellation(partner, order_id, canceled=True)
    if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
        try:
            code, message = read_error(response.json())
        except (ValueError, KeyError, TypeError):
            code, message = f"HTTP_{response.status_code}", response.reason_phrase
        raise PharmacyRejected(code, message)
    raise PharmacyUnavailable(f"POST {url} answered {response.status_code}")


def _submission(
    order: PharmacyOrder, response: httpx.Response, id_key: str, status_key: str
) -> PharmacySubmission:
    try:
        data = response.json()
        return PharmacySubmission(
            order.partner,
            order.order_id,
            str(data[id_key]),
            str(data[status_key]),
            response.status_code == 201,
        )
    except (ValueError, KeyError, TypeError) as exc:
        # Unreadable 2xx: the order may exist; the partner's dedupe makes a retry safe.
        raise PharmacyUnavailable("pharmacy answered 2xx with an unreadable body") from exc


class LifeFileClient:
    """Belmar Pharmacy, reached through LifeFile."""

    partner = BELMAR

    def __init__(
        self,
        base_url: str,
        api_key: str,
        client: httpx.Client | None = None,
        practice_id: str = "refill-ledger",
    ) -> None:
        self._url = base_url.rstrip("/") + "/lifefile/v1/orders"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._practice_id = practice_id
        self._client = client or httpx.Client(timeout=httpx.Timeout(10.0))

    def submit_order(self, order: PharmacyOrder) -> PharmacySubmission:
        payload: dict[str, Any] = {
            "referenceId": order.order_id,
            "practice": {"id": self._practice_id},
            "patient": {"ref": order.patient_ref, "state": order.patient_state},
            "rxs": [
                {
                    "productCode": line.product_code,
                    "quantity": line.quantity,
                    "sig": line.sig,
                    "controlled": line.controlled,
                }
                for line in order.lines
            ],
            "shipping": {"method": "standard", "state": order.patient_state},
        }
        if order.prescriber is not None:
            p = order.prescriber
            payload["prescriber"] = (
                {"rxReference": p.rx_reference}
                if p.npi is None
                else {k: v for k, v in (("name", p.name), ("npi", p.npi), ("dea", p.dea_number)) if v}
            )
        response = _post(
            self._client,
            self._url,
            payload,
            self._headers,
            lambda d: (str(d["error"]["code"]), str(d["error"].get("message", ""))),
        )
        return _submission(order, response, "orderId", "status")

    def cancel_order(self, order_id: str) -> PharmacyCancellation:
        return _cancel(
            self._client,
            self.partner,
            f"{self._url}/{order_id}/cancel",
            order_id,
            self._headers,
            lambda d: (str(d["error"]["code"]), str(d["error"].get("message", ""))),
        )


class DispenseProClient:
    partner = DISPENSEPRO

    def __init__(self, base_url: str, api_key: str, client: httpx.Client | None = None) -> None:
        self._url = base_url.rstrip("/") + "/dispensepro/api/orders"
        self._headers = {"X-Api-Key": api_key}
        self._client = client or httpx.Client(timeout=httpx.Timeout(10.0))

    def submit_order(self, order: PharmacyOrder) -> PharmacySubmission:
        payload: dict[str, Any] = {
            "external_order_id": order.order_id,
            "patient_ref": order.patient_ref,
            "ship_to_state": order.patient_state,
            "items": [
                {
                    "ndc_or_code": line.product_code,
                    "qty": line.quantity,
                    "directions": line.sig,
                    "controlled": line.controlled,
                }
                for line in order.lines
            ],
        }
        if order.prescriber is not None:
            p = order.prescriber
            payload["prescriber"] = (
                {"rx_reference": p.rx_reference}
                if p.npi is None
                else {
                    k: v
                    for k, v in (("full_name", p.name), ("npi", p.npi), ("dea_number", p.dea_number))
                    if v
                }
            )
        response = _post(
            self._client,
            self._url,
            payload,
            self._headers,
            lambda d: (str(d["error_code"]), str(d.get("detail", ""))),
        )
        return _submission(order, response, "id", "state")

    def cancel_order(self, order_id: str) -> PharmacyCancellation:
        return _cancel(
            self._client,
            self.partner,
            f"{self._url}/{order_id}/cancel",
            order_id,
            self._headers,
            lambda d: (str(d["error_code"]), str(d.get("detail", ""))),
        )


def pharmacy_client(
    partner: str, base_url: str, api_key: str, client: httpx.Client | None = None
) -> PharmacyClient:
    """The client for a partner code from the product's pharmacy routing."""
    if partner == BELMAR:
        return LifeFileClient(base_url, api_key, client)
    if partner == DISPENSEPRO:
        return DispenseProClient(base_url, api_key, client)
    raise ValueError(f"unknown pharmacy partner {partner!r}")


@dataclass(frozen=True)
class PharmacyWebhook:
    event_id: str  # the dedupe key for "processed once"
    reference_id: str  # our order id
    order_id: str  # the pharmacy's
    status: str  # one of WEBHOOK_STATUSES
    occurred_at: datetime  # UTC
    reason: str | None
    carrier: str | None
    tracking: str | None


def parse_pharmacy_webhook(body: bytes) -> PharmacyWebhook:
    """Read a verified pharmacy webhook body; raise `WebhookPayloadError` naming the bad field."""
    data = load_object(body)
    status = required_str(data, "status")
    if status not in WEBHOOK_STATUSES:
        raise WebhookPayloadError("status", f"must be one of {sorted(WEBHOOK_STATUSES)}")
    return PharmacyWebhook(
        event_id=required_str(data, "eventId"),
        reference_id=required_str(data, "referenceId"),
        order_id=required_str(data, "orderId"),
        status=status,
        occurred_at=required_time(data, "occurredAt"),
        reason=optional_str(data, "reason"),
        carrier=optional_str(data, "carrier"),
        tracking=optional_str(data, "tracking"),
    )
