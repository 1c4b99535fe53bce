"""Beluga Health medical review: the outbound visit submission and the inbound webhook.

Beluga's public documentation is thin, so every Beluga payload shape lives in this one module;
it is our contract with them and the sandbox (`adapters.sandbox.beluga_server`) speaks it.

Outbound: `POST {base}/visits` with `Authorization: Bearer <key>` and `Idempotency-Key: <masterId>`:
    {"masterId", "visitType", "patient": {"ref", "state"},
     "medsRequested": [{"medId", "name", "quantity"}], "pharmacy", "labMethod", "referenceId",
     "intakeRef", "callbackUrl"}
  201 (new) / 200 (repeated masterId: the same visit, never a second one)
      -> {"masterId", "status": "received", "visitId"}
  422 -> {"error": {"code", "message"}}      5xx / network -> outcome unknown, retry same masterId

Inbound (`POST /webhooks/beluga`, signed, see `adapters.webhook_signature`):
    {"event", "eventId", "masterId", "occurredAt", "medsPrescribed": [{"medId", "name"}],
     "visitOutcome"}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from adapters.webhook_signature import (
    WebhookPayloadError,
    load_object,
    optional_str,
    required_str,
    required_time,
)

RX_WRITTEN = "RX_WRITTEN"
CONSULT_CONCLUDED = "CONSULT_CONCLUDED"
CONSULT_CANCELED = "CONSULT_CANCELED"


class BelugaError(Exception):
    """Base for errors raised instead of httpx's own."""


class BelugaUnavailable(BelugaError):
    """Unreachable, 5xx or an unreadable answer: outcome unknown, retry with the same masterId."""


class BelugaRejected(BelugaError):
    """Beluga refused the visit; retrying unchanged will not help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RequestedMed:
    med_id: str  # Beluga's drug id, from the product's medical-review mapping
    name: str
    quantity: int


@dataclass(frozen=True)
class VisitSubmission:
    master_id: str  # our stable id for this order's visit: a retry reuses it
    visit_type: str
    patient_ref: str  # opaque ledger id; Beluga holds the patient's chart, we send no PHI
    patient_state: str  # two-letter state: decides which prescriber may review
    meds: tuple[RequestedMed, ...]
    pharmacy: str  # partner code the prescription will be routed to
    order_id: str
    intake_ref: str | None = None
    lab_method: str | None = None
    callback_url: str | None = None


@dataclass(frozen=True)
class VisitAccepted:
    master_id: str
    visit_id: str
    status: str
    created: bool  # False when Beluga already had this masterId (a retry)


def visit_payload(visit: VisitSubmission) -> dict[str, Any]:
    return {
        "masterId": visit.master_id,
        "visitType": visit.visit_type,
        "patient": {"ref": visit.patient_ref, "state": visit.patient_state},
        "medsRequested": [{"medId": m.med_id, "name": m.name, "quantity": m.quantity} for m in visit.meds],
        "pharmacy": visit.pharmacy,
        "labMethod": visit.lab_method,
        "referenceId": visit.order_id,
        "intakeRef": visit.intake_ref,
        "callbackUrl": visit.callback_url,
    }


class BelugaClient:
    def __init__(self, base_url: str, api_key: str, client: httpx.Client | None = None) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._client = client or httpx.Client(timeout=httpx.Timeout(10.0))

    def submit_visit(self, visit: VisitSubmission) -> VisitAccepted:
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Idempotency-Key": visit.master_id,
        }
        try:
            response = self._client.post(
                f"{self._base_url}/visits", json=visit_payload(visit), headers=headers
            )
        except httpx.HTTPError as exc:
            raise BelugaUnavailable(f"POST /visits failed: {type(exc).__name__}") from exc
        if response.status_code in (200, 201):
            return _accepted(response)
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            code, message = _error(response)
            raise BelugaRejected(code, message)
        # 5xx, 408 and 429 are transient: the visit may or may not exist, retry is safe.
        raise BelugaUnavailable(f"POST /visits answered {response.status_code}")


def _accepted(response: httpx.Response) -> VisitAccepted:
    try:
        data = response.json()
        return VisitAccepted(
            master_id=str(data["masterId"]),
            visit_id=str(data["visitId"]),
            status=str(data["status"]),
            created=response.status_code == 201,
        )
    except (ValueError, KeyError, TypeError) as exc:
        # A 2xx we cannot read leaves the outcome unknown; the masterId makes a retry safe.
        raise BelugaUnavailable("POST /visits answered 2xx with an unreadable body") from exc


def _error(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return f"HTTP_{response.status_code}", response.reason_phrase


@dataclass(frozen=True)
class PrescribedMed:
    med_id: str
    name: str


@dataclass(frozen=True)
class BelugaWebhook:
    event: str  # RX_WRITTEN, CONSULT_CONCLUDED, CONSULT_CANCELED, or one we do not know yet
    event_id: str  # Beluga's id: the dedupe key for "processed once"
    master_id: str
    occurred_at: datetime  # UTC
    meds_prescribed: tuple[PrescribedMed, ...]
    visit_outcome: str | None


def parse_beluga_webhook(body: bytes) -> BelugaWebhook:
    """Read a verified Beluga webhook body; raise `WebhookPayloadError` naming the bad field."""
    data = load_object(body)
    event = required_str(data, "event")
    raw_meds = data.get("medsPrescribed")
    if raw_meds is None:
        raw_meds = []
    if not isinstance(raw_meds, list):
        raise WebhookPayloadError("medsPrescribed", "must be a list")
    meds: list[PrescribedMed] = []
    for index, item in enumerate(raw_meds):
        if not isinstance(item, dict):
            raise WebhookPayloadError(f"medsPrescribed[{index}]", "must be an object")
        try:
            med = PrescribedMed(required_str(item, "medId"), optional_str(item, "name") or "")
        except WebhookPayloadError as exc:
            raise WebhookPayloadError(f"medsPrescribed[{index}].{exc.field}", exc.message) from exc
        meds.append(med)
    if event == RX_WRITTEN and not meds:
        # The gate matches the prescription to the product by medId: an empty list confirms nothing.
        raise WebhookPayloadError("medsPrescribed", "RX_WRITTEN needs at least one med")
    return BelugaWebhook(
        event=event,
        event_id=required_str(data, "eventId"),
        master_id=required_str(data, "masterId"),
        occurred_at=required_time(data, "occurredAt"),
        meds_prescribed=tuple(meds),
        visit_outcome=optional_str(data, "visitOutcome"),
    )
