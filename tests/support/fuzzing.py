"""What the schema fuzzer (tests/api/test_openapi_fuzz.py) runs against: a world of realistic data made
through the API, the schemathesis configuration that points the fuzzer at its ids, and two ASGI wrappers
around the served app — one signs webhook deliveries as their vendors would, one keeps the test's own
record of what was answered and what never was."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.payments.stripe_webhooks import sign_stripe_payload
from adapters.webhook_signature import HEADER as SIGNATURE
from adapters.webhook_signature import sign
from api.auth import ROLES, issue_token
from api.runtime import Runtime
from domain.medical_review import master_id_for
from ledger.demo import seed
from ledger.demo_clinic import GOOD_SIG
from tests.support.app import ORG


@dataclass
class World:
    """The ids the fuzzer draws from: what the demo seeded plus what `build_world` added through the API."""

    ids: dict[str, list[str]]


def build_world(runtime: Runtime, url: str) -> tuple[World, dict[str, str]]:
    """Seed the demo, then add through the API, as its users would: a paid refill and a declined one (an
    open invoice with a failed attempt), an unpaid order with a lab line, three subscriptions, Ada enrolled
    at the clinic and a checked-out clinic cart with a line for her (a clinic-paid order she may read), two
    open carts with a line each, a quickfill and a completed compliance export. Returns the ids and a
    token per role: Ada for `patient`, the clinic's nurse for `clinic`."""
    demo = seed(runtime, ORG)
    ada, bob = demo["patients"]["ada"], demo["patients"]["bob"]
    clinic = demo["clinic"]
    subjects = {"patient": ada, "clinic": clinic["user_id"]}
    now = datetime.now(UTC)
    tokens = {
        role: issue_token(
            runtime.token_secret, role=role, subject=subjects.get(role), organization_id=ORG, now=now
        )
        for role in ROLES
    }
    products = demo["products"]
    sema, tirz, kit = products["semaglutide"], products["tirzepatide"], products["sharps_kit"]
    visa, declines = demo["payment_methods"]["ada_visa"], demo["payment_methods"]["ada_declines"]
    original = demo["original_order"]["id"]

    with httpx.Client(base_url=url, timeout=30) as http:

        def call(role: str, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
            headers = {"Authorization": f"Bearer {tokens[role]}", **({"Idempotency-Key": key} if key else {})}
            response = http.request(method, path, json=body, headers=headers)
            assert response.status_code in (200, 201, 202, 402), response.text
            return response.json()

        paid_refill = call(
            "patient",
            "POST",
            f"/orders/{original}/refills",
            {"product_id": tirz, "payment_method_id": visa},
            "w1",
        )
        declined_refill = call(
            "patient",
            "POST",
            f"/orders/{original}/refills",
            {"product_id": sema, "payment_method_id": declines},
            "w2",
        )
        lab = call(
            "staff",
            "POST",
            "/products",
            {"sku": "LAB-A1C", "name": "HbA1c panel", "price_cents": 4900, "kind": "lab", "lab": {}},
        )["id"]
        lines = [{"product_id": kit, "quantity": 1}, {"product_id": lab, "quantity": 1}]
        open_order = call("staff", "POST", "/orders", {"patient_id": ada, "lines": lines})
        to_cancel = call("staff", "POST", "/orders", {"patient_id": bob, "lines": lines[:1]})
        subscriptions = [
            call(
                "staff",
                "POST",
                "/subscriptions",
                {"patient_id": ada, "product_id": product, "payment_method_id": visa},
            )["id"]
            for product in (sema, tirz, kit)
        ]
        call("staff", "POST", f"/clinic/admin/clinics/{clinic['clinic_id']}/patients", {"patient_id": ada})
        line = {
            "product_id": sema,
            "quantity": 1,
            "pharmacy_id": clinic["pharmacies"]["dispensepro"],
            "sig": GOOD_SIG,
            "prescriber_id": clinic["prescribers"]["wide"],
        }
        done_cart = call("clinic", "POST", "/clinic/carts")["id"]
        for patient in (ada, clinic["patients"][0]):
            call("clinic", "POST", f"/clinic/carts/{done_cart}/lines", {**line, "patient_id": patient})
        checkout = call(
            "clinic",
            "POST",
            f"/clinic/carts/{done_cart}/checkout",
            {"payment_method_id": clinic["card"]},
            "w3",
        )
        carts = []
        for patient in clinic["patients"][1:]:
            cart = call("clinic", "POST", "/clinic/carts")["id"]
            carts.append(
                call("clinic", "POST", f"/clinic/carts/{cart}/lines", {**line, "patient_id": patient})
            )
        quickfill = call("clinic", "POST", "/clinic/quickfills", {"name": "Weekly sema", **line})["id"]
        export = call(
            "compliance", "POST", "/compliance/exports", {"purpose": "fuzzing", "order_id": original}
        )
        deadline = time.monotonic() + 30
        while (done := call("compliance", "GET", f"/compliance/exports/{export['id']}"))[
            "status"
        ] == "running":
            assert time.monotonic() < deadline, done
            time.sleep(0.05)
        assert done["status"] == "completed", done

    refill_orders = [r["refill_order"] for r in (paid_refill, declined_refill)]
    ids = {
        "order": [original, *(o["id"] for o in refill_orders), open_order["order"]["id"]]
        + [o["id"] for o in checkout["orders"]],
        "order_to_cancel": [to_cancel["order"]["id"]],
        "order_text": [
            demo["original_order"]["number"],
            *(o["number"] for o in refill_orders),
            "ada@example.com",
        ],
        "invoice": [r["invoice"]["id"] for r in (paid_refill, declined_refill, open_order, checkout)],
        "patient": [ada, bob, *clinic["patients"]],
        "product": [sema, tirz, kit, lab],
        "payment_method": [visa, declines, clinic["card"]],
        "subscription": subscriptions[1:],
        "subscription_to_cancel": subscriptions[:1],
        "clinic": [clinic["clinic_id"]],
        "pharmacy": list(clinic["pharmacies"].values()),
        "prescriber": list(clinic["prescribers"].values()),
        "cart": [carts[0]["id"], done_cart],
        "cart_to_check_out": [carts[1]["id"]],
        "line": [carts[0]["lines"][0]["line_id"]],
        "quickfill": [quickfill],
        "checkout": [done_cart, checkout["invoice"]["id"]],
        "export": [export["id"]],
        "name": ["manifest.json", "events.jsonl", "events.csv", *(p.name for p in runtime.projections)],
        "partner": ["belmar", "dispensepro"],
        "npi": ["1234567893", "9876543213"],
        "card_token": ["pm_card_visa", "pm_card_mastercard", "pm_card_chargeCustomerFail"],
        "gateway": ["fake"],
        "master": [master_id_for(order) for order in [original, *(o["id"] for o in refill_orders)]],
        "beluga_event": ["RX_WRITTEN", "CONSULT_CONCLUDED", "CONSULT_CANCELED"],
        "med": ["beluga-sema-25"],
    }
    return World(ids), tokens


# Which dictionary feeds which field. A dictionary value is drawn most of the time; the rest are generated,
# so unknown ids, garbage and boundary values are still sent.
BINDINGS: dict[str, str] = {
    **{f"path.{kind}_id": kind for kind in ("order", "invoice", "patient", "product", "subscription")},
    **{f"path.{kind}_id": kind for kind in ("clinic", "pharmacy", "cart", "line", "quickfill", "export")},
    "path.name": "name",
    "path.partner": "partner",
    **{f"query.{kind}_id": kind for kind in ("patient", "product", "checkout", "order")},
    "query.q": "order_text",
    **{f"body.{kind}_id": kind for kind in ("patient", "product", "payment_method", "pharmacy")},
    **{f"body.{kind}_id": kind for kind in ("prescriber", "order")},
    "body.lines[*].product_id": "product",
    "body.patient_ids[*]": "patient",
    "body.npi": "npi",
    "body.token": "card_token",
    "body.gateway": "gateway",
    "body.referenceId": "order",  # the signed webhooks: our order, its Beluga visit, the med prescribed
    "body.masterId": "master",
    "body.event": "beluga_event",
    "body.medsPrescribed[*].medId": "med",
}
# Operations that end what they are given get data of their own, so the rest still find it open.
ENDING: dict[str, dict[str, str]] = {
    "POST /subscriptions/{subscription_id}/cancel": {"path.subscription_id": "subscription_to_cancel"},
    "POST /orders/{order_id}/cancel": {"path.order_id": "order_to_cancel"},
    "POST /clinic/carts/{cart_id}/checkout": {"path.cart_id": "cart_to_check_out"},
}


def schemathesis_config(
    world: World, others: list[str], others_examples: int, probability: float = 0.8
) -> str:
    """schemathesis.toml: one dictionary per kind of id, bound to the fields that name one; `others` (the
    operations the caller's role may not call) get `others_examples` fuzzed requests each and no coverage
    phase, the rest the whole budget."""

    def bound(bindings: dict[str, str]) -> list[str]:
        return [
            f'"{key}" = {{ dictionary = "{kind}", probability = {probability} }}'
            for key, kind in bindings.items()
        ]

    lines = []
    for kind, values in world.ids.items():
        lines += [f"[dictionaries.{kind}]", f"values = {json.dumps(values)}"]
    lines += ["[parameters]", *bound(BINDINGS)]
    for name, bindings in ENDING.items():
        lines += ["[[operations]]", f'include-name = "{name}"', "[operations.parameters]", *bound(bindings)]
    lines += [
        "[[operations]]",
        f"include-name = {json.dumps(others)}",
        "[operations.generation]",
        f"max-examples = {others_examples}",
        "[operations.phases.coverage]",
        "enabled = false",
    ]
    return "\n".join(lines) + "\n"


class Answers:
    """What the server answered (method, route template, status), and what it has not answered yet: the
    test's own view of the run, so a hang names its route and a run that never reached a handler fails."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.statuses: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
        self.open: dict[int, tuple[str, str, float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key, status = id(scope), 0
        self.open[key] = (scope["method"], scope["path"], time.monotonic())

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            del self.open[key]
            route = getattr(scope.get("route"), "path", "unmatched")
            self.statuses[(scope["method"], route)][status] += 1

    def answered_2xx(self, ops: list[tuple[str, str]]) -> set[tuple[str, str]]:
        return {op for op in ops if any(200 <= code < 300 for code in self.statuses[op])}

    def report(self) -> str:
        now = time.monotonic()
        hanging = [f"{m} {p} open for {now - t:.0f} s" for m, p, t in self.open.values()]
        seen = [f"{m} {p}: {dict(c)}" for (m, p), c in sorted(self.statuses.items()) if p != "unmatched"]
        return "\n".join(["unanswered: " + (", ".join(hanging) or "none"), *seen])


class VendorSigning:
    """Signs every webhook delivery as its vendor would, whatever body the fuzzer sent, so the fuzzer
    reaches what lies behind the signature check (storing and parsing hostile, signed bodies) instead of
    only ever being told 401. The bad-signature answers are tested in tests/api/test_webhooks.py."""

    def __init__(self, app: ASGIApp, secrets: dict[str, str]) -> None:
        self.app, self.secrets = app, secrets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/webhooks/"):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        now = int(time.time())
        if path == "/webhooks/stripe":
            signed = (b"stripe-signature", sign_stripe_payload(body, self.secrets["stripe"], now).encode())
        else:
            secret = self.secrets["beluga" if path == "/webhooks/beluga" else "pharmacy"]
            signed = (SIGNATURE.lower().encode(), sign(secret, body, now).encode())
        headers = [(k, v) for k, v in scope["headers"] if k not in (signed[0], b"content-length")]
        headers += [signed, (b"content-length", str(len(body)).encode())]
        replayed = False

        async def once() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        scope["headers"] = headers  # in place: the wrapper outside reads the matched route from it
        await self.app(scope, once, send)
