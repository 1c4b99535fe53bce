"""A seeded ledger for the support-view tests: the demo catalog, then one order per situation CS meets.

Broken states the normal flow cannot produce are appended as facts through a `Batch`, exactly as a
bug elsewhere would have written them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from starlette.testclient import TestClient

from api.app import create_app
from api.auth import issue_token
from api.runtime import Runtime
from domain import refills as refill_rules
from domain.events import Actor
from domain.invoices import InvoiceIssued, PaymentAttempted, PaymentSucceeded
from domain.orders import FulfillmentReleased, OrderLine, OrderPlaced, PharmacyOrderSubmitted
from domain.refills import RefillIds
from ledger.bootstrap import build_runtime
from ledger.demo import seed
from ledger.settings import Settings
from service import catalog, medical_review, orders, refills, subscriptions
from service.policies import run_policy_until_idle
from service.unit import Context, load

ORG = "org_support"
SECRET = "support-test-secret-" + "z" * 20


def settings_for(var_dir: Path, database_url: str | None = None) -> Settings:
    values: dict[str, Any] = {
        "LEDGER_ENV": "local",
        "LEDGER_VAR_DIR": var_dir,
        "LEDGER_ORGANIZATION_ID": ORG,
        "LEDGER_SECRET": SECRET,
        "DATABASE_URL": database_url,
        "LEDGER_SERVED_ORGANIZATIONS": "org_other",  # a second tenant, for the isolation tests
    }
    settings, _ = Settings(**values).with_local_defaults()
    return settings


def cli_env(var_dir: Path, database_url: str | None = None) -> dict[str, str]:
    env = {
        "LEDGER_ENV": "local",
        "LEDGER_VAR_DIR": str(var_dir),
        "LEDGER_ORGANIZATION_ID": ORG,
        "LEDGER_SECRET": SECRET,
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


@dataclass
class World:
    runtime: Runtime
    client: TestClient
    demo: dict[str, Any]
    var_dir: Path  # the CLI tests open the same store from its settings
    orders: dict[str, str] = field(default_factory=dict)  # situation -> order id
    expected: dict[str, set[str]] = field(default_factory=dict)  # situation -> escalation codes

    @property
    def ctx(self) -> Context:
        return Context(Actor(kind="staff", id="test"), ORG, "test", "test")

    def get(self, path: str, role: str = "cs", **params: Any) -> Any:
        token = issue_token(SECRET, role=role, subject=None, organization_id=ORG, now=datetime.now(UTC))
        r = self.client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        return r.json()

    def escalate(self) -> None:
        """Run the escalation policy over what was written (as the policy worker would)."""
        run_policy_until_idle(self.runtime.policies, "escalations")

    def cs(self, situation: str) -> Any:
        self.escalate()
        return self.get(f"/cs/orders/{self.orders[situation]}")


@contextmanager
def world(var_dir: Path, database_url: str | None = None, *, build: bool = True) -> Iterator[World]:
    runtime = build_runtime(settings_for(var_dir, database_url))
    demo = seed(runtime, ORG)
    with TestClient(create_app(runtime)) as client:
        w = World(runtime, client, demo, var_dir)
        if build:
            build_situations(w)
        yield w


def _refill(w: World, product: str, card: str, key: str, original_id: str | None = None) -> str:
    d = w.demo
    ctx = Context(Actor(kind="patient", id=d["patients"]["ada"]), ORG, key, key)
    outcome = refills.request_refill(
        w.runtime.deps,
        ctx,
        d["patients"]["ada"],
        original_id or d["original_order"]["id"],
        d["products"][product],
        d["payment_methods"][card],
        key,
    )
    return outcome.order.id


def _append_refill(
    w: World,
    *,
    product_key: str = "semaglutide",
    original_id: str | None = None,
    price_cents: int | None = None,
) -> str:
    """A refill written straight to the store, skipping the open-refill check (and maybe the price)."""
    deps, d = w.runtime.deps, w.demo
    original = load(deps.store, "order", original_id or d["original_order"]["id"])
    product = load(deps.store, "product", d["products"][product_key]).state
    if price_cents is not None:
        from dataclasses import replace

        product = replace(product, price_cents=price_cents)
    patient = catalog.get_patient(deps, w.ctx, d["patients"]["ada"])
    order_id = str(uuid4())
    ids = RefillIds(str(uuid4()), order_id, deps.order_number(order_id), str(uuid4()))
    decision = refill_rules.request_refill(
        original.state, product, patient, d["payment_methods"]["ada_visa"], ids, None, deps.clock()
    )
    batch = deps.batch(w.ctx)
    batch.start(UUID(ids.refill_id), decision.refill)
    batch.start(UUID(ids.order_id), decision.order)
    batch.start(UUID(ids.invoice_id), decision.invoice)
    batch.extend(original, decision.original)
    deps.commit(batch)
    return order_id


def build_situations(w: World) -> None:
    deps, d, ctx = w.runtime.deps, w.demo, w.ctx
    sema, ada = d["products"]["semaglutide"], d["patients"]["ada"]
    w.orders["original"] = d["original_order"]["id"]
    w.expected["original"] = set()
    # Paid refill of a product needing intake; the price went up between the original and the refill.
    catalog.change_product(deps, ctx, sema, {"price_cents": 31900})
    w.orders["paid_refill"] = _refill(w, "semaglutide", "ada_visa", "refill-paid")
    w.expected["paid_refill"] = set()
    # A refill whose payment was declined: order and invoice stay, open for retry.
    w.orders["failed_refill"] = _refill(w, "sharps_kit", "ada_declines", "refill-declined")
    w.expected["failed_refill"] = set()
    # A subscription cycle order.
    sub = subscriptions.start_subscription(
        deps,
        ctx,
        patient_id=ada,
        product_id=d["products"]["sharps_kit"],
        payment_method_id=d["payment_methods"]["ada_visa"],
        interval_days=30,
    )
    w.orders["subscription_cycle"] = subscriptions.bill_cycle(deps, ctx, sub.id, 1).order.id
    w.expected["subscription_cycle"] = set()
    # No refill button: an unpaid order, and a canceled one.
    w.orders["unpaid"] = orders.place_order(deps, ctx, ada, [(sema, 1)]).order.id
    w.expected["unpaid"] = set()
    w.orders["canceled"] = orders.cancel_order(
        deps, ctx, orders.place_order(deps, ctx, ada, [(sema, 1)]).order.id, "patient changed their mind"
    ).id
    w.expected["canceled"] = set()
    # Stuck refill: tirzepatide has no Beluga medId, so the submission after payment is blocked.
    w.orders["blocked_refill"] = _refill(w, "tirzepatide", "ada_visa", "refill-tirz")
    medical_review.submit(
        deps, ctx, w.orders["blocked_refill"], None, trigger="patient_refill_payment_succeeded"
    )
    w.expected["blocked_refill"] = {"MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT"}
    _broken(w)


def _broken(w: World) -> None:
    deps, d, ctx = w.runtime.deps, w.demo, w.ctx
    sema, ada = d["products"]["semaglutide"], d["patients"]["ada"]
    now = deps.clock()
    # Charged, but OrderCharged never recorded.
    placed = orders.place_order(deps, ctx, ada, [(d["products"]["sharps_kit"], 1)])
    invoice = load(deps.store, "invoice", placed.invoice.id)
    batch = deps.batch(ctx)
    batch.extend(
        invoice,
        PaymentAttempted(
            attempt=1,
            gateway="fake",
            payment_method_id=d["payment_methods"]["ada_visa"],
            idempotency_key="k",
            amount_cents=1500,
            attempted_at=now,
        ),
        PaymentSucceeded(attempt=1, gateway="fake", gateway_reference="ch_1", paid_at=now),
    )
    deps.commit(batch)
    w.orders["charged_not_updated"] = placed.order.id
    w.expected["charged_not_updated"] = {"CHARGED_BUT_NOT_UPDATED"}
    # A second refill of the product while the first refill's invoice is open after a failed payment.
    other = orders.place_order(deps, ctx, ada, [(sema, 1), (d["products"]["sharps_kit"], 2)])
    orders.pay_invoice(deps, ctx, other.invoice.id, d["payment_methods"]["ada_visa"], "pay-other")
    first = _refill(w, "sharps_kit", "ada_declines", "refill-dup-1", other.order.id)
    second = _append_refill(w, product_key="sharps_kit", original_id=other.order.id)
    w.orders["duplicate_original"] = other.order.id  # its view lists both refills
    w.orders["duplicate_first"], w.orders["duplicate_second"] = first, second
    for situation in ("duplicate_original", "duplicate_first", "duplicate_second"):
        w.expected[situation] = {"DUPLICATE_REFILL_AFTER_FAILED_PAYMENT"}
    # A refill order without its link to the original.
    order_id, invoice_id = uuid4(), uuid4()
    product = load(deps.store, "product", sema).state
    line = OrderLine(
        product_id=sema,
        sku=product.sku,
        name=product.name,
        kind=product.kind,
        quantity=1,
        unit_price_cents=product.price_cents,
        requires_intake=True,
    )
    batch = deps.batch(ctx)
    batch.start(
        order_id,
        OrderPlaced(
            number=deps.order_number(str(order_id)),
            patient_id=ada,
            invoice_id=str(invoice_id),
            lines=(line,),
            currency="usd",
            source="PATIENT_PORTAL",
            source_context="PATIENT_REFILL",
            placed_at=now,
        ),
    )
    batch.start(
        invoice_id,
        InvoiceIssued(
            order_ids=(str(order_id),), amount_cents=product.price_cents, currency="usd", patient_id=ada
        ),
    )
    deps.commit(batch)
    w.orders["unlinked_refill"] = str(order_id)
    w.expected["unlinked_refill"] = {"REFILL_MISSING_ORIGINAL_LINK"}
    # Sent to the pharmacy with no prescription and no accepted intake.
    early = orders.place_order(deps, ctx, ada, [(sema, 1)])
    orders.pay_invoice(deps, ctx, early.invoice.id, d["payment_methods"]["ada_visa"], "pay-early")
    loaded = load(deps.store, "order", early.order.id)
    batch = deps.batch(ctx)
    batch.extend(
        loaded,
        FulfillmentReleased(partner="belmar", passed_checks=("INVOICE_PAID",)),
        PharmacyOrderSubmitted(partner="belmar", external_id="BLM-1"),
    )
    deps.commit(batch)
    w.orders["fulfillment_before_rx"] = early.order.id
    w.expected["fulfillment_before_rx"] = {"FULFILLMENT_BEFORE_RX"}
    # A refill charged at a price the product never had.
    w.orders["wrong_price"] = _append_refill(w, price_cents=100)
    w.expected["wrong_price"] = {"PRICE_OR_ELIGIBILITY_SUSPECT"}
