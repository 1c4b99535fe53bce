"""Demo data for a newcomer: a catalog, two patients with saved cards, a paid original order.

Seeded once, on the first start of an empty store; what was created is kept in
`var/demo.json` so later starts print the same ids, tokens and curl line.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from api.auth import issue_token
from api.runtime import Runtime
from domain.catalog import MedicalReviewMapping, PharmacyMapping
from domain.events import Actor
from ledger.demo_clinic import clinic_banner, seed_clinic
from service import catalog, orders
from service.unit import Context


def seed(runtime: Runtime, organization_id: str) -> dict[str, Any]:
    deps = runtime.deps
    ctx = Context(Actor(kind="system", id="demo-seed"), organization_id, "demo-seed", "demo-seed")
    sema = catalog.add_product(
        deps,
        ctx,
        sku="SEMA-2.5",
        name="Semaglutide 2.5 mg/mL (compounded)",
        price_cents=29900,
        currency="usd",
        active=True,
        kind="medication",
        requires_intake=True,
        medical_review=MedicalReviewMapping(visit_type="weight_loss_refill", med_id="beluga-sema-25"),
        pharmacy=PharmacyMapping(partner="belmar", product_code="BLM-SEMA-25"),
    )
    tirz = catalog.add_product(
        deps,
        ctx,
        sku="TIRZ-10",
        name="Tirzepatide 10 mg/mL (compounded)",
        price_cents=39900,
        currency="usd",
        active=True,
        kind="medication",
        requires_intake=False,
        medical_review=MedicalReviewMapping(visit_type="weight_loss_refill", med_id=None),
        pharmacy=PharmacyMapping(partner="dispensepro", product_code="DP-TIRZ-10"),
    )
    kit = catalog.add_product(
        deps,
        ctx,
        sku="SHARPS-KIT",
        name="Syringe and sharps kit",
        price_cents=1500,
        currency="usd",
        active=True,
        kind="non_rx",
        requires_intake=False,
        medical_review=None,
        pharmacy=None,
    )
    ada = catalog.register_patient(deps, ctx, name="Ada Lovelace", email="ada@example.com", state="TX")
    ada, ada_card = catalog.save_payment_method(
        deps,
        ctx,
        ada.id,
        gateway="fake",
        token="pm_card_visa",  # noqa: S106 - a public test token
        label="Visa ending 4242",
    )
    ada, ada_failing = catalog.save_payment_method(
        deps,
        ctx,
        ada.id,
        gateway="fake",
        token="pm_card_chargeCustomerFail",  # noqa: S106 - a public test token
        label="Card that declines",
    )
    bob = catalog.register_patient(deps, ctx, name="Bob Hopper", email="bob@example.com", state="CA")
    original = orders.place_order(deps, ctx, ada.id, [(sema.id, 2), (tirz.id, 1), (kit.id, 1)])
    orders.pay_invoice(deps, ctx, original.invoice.id, ada_card, "demo-seed-original")
    products = {"semaglutide": sema.id, "tirzepatide": tirz.id, "sharps_kit": kit.id}
    return {
        "clinic": seed_clinic(deps, ctx, products),
        "organization_id": organization_id,
        "patients": {"ada": ada.id, "bob": bob.id},
        "payment_methods": {"ada_visa": ada_card, "ada_declines": ada_failing},
        "products": {"semaglutide": sema.id, "tirzepatide": tirz.id, "sharps_kit": kit.id},
        "original_order": {"id": original.order.id, "number": original.order.number},
    }


def ensure_demo(runtime: Runtime, organization_id: str, var_dir: Path) -> dict[str, Any] | None:
    """Seed on the first start of an empty store; None when the store held other data already."""
    path = var_dir / "demo.json"
    if path.exists():
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    if runtime.deps.store.last_position() > 2:  # more than the organization's own configuration
        return None
    data = seed(runtime, organization_id)
    path.write_text(json.dumps(data, indent=2))
    return data


def banner(runtime: Runtime, data: dict[str, Any], base_url: str) -> str:
    now = datetime.now(UTC)
    org = data["organization_id"]

    def tok(role: str, subject: str | None = None) -> str:
        return issue_token(runtime.token_secret, role=role, subject=subject, organization_id=org, now=now)

    ada_token = tok("patient", data["patients"]["ada"])
    body = json.dumps(
        {
            "product_id": data["products"]["semaglutide"],
            "payment_method_id": data["payment_methods"]["ada_visa"],
        }
    )
    lines = [
        "",
        "Refill Ledger demo — local secrets under ./var, payment gateway 'fake' (pm_card_visa pays).",
        f"  API:            {base_url}   (OpenAPI: {base_url}/openapi.json)",
        f"  Original order: {data['original_order']['number']} ({data['original_order']['id']}), paid",
        "Tokens (12 h):",
        f"  patient Ada:  {ada_token}",
        f"  patient Bob:  {tok('patient', data['patients']['bob'])}",
        *(f"  {role + ':':13} {tok(role)}" for role in ("staff", "cs", "ops", "service", "compliance")),
        "See Ada's orders and what she may refill:",
        f"  curl -s {base_url}/patients/{data['patients']['ada']}/orders "
        f"-H 'Authorization: Bearer {ada_token}'",
        "Request a refill of the semaglutide line and pay for it now:",
        f"  curl -s -X POST {base_url}/orders/{data['original_order']['id']}/refills "
        f"-H 'Authorization: Bearer {ada_token}' -H 'Idempotency-Key: demo-refill-1' "
        f"-H 'Content-Type: application/json' -d '{body}'",
        f"(Pay with {data['payment_methods']['ada_declines']} instead to see a decline.)",
    ]
    if "clinic" in data:
        clinic = data["clinic"]
        lines += clinic_banner(base_url, tok("clinic", clinic["user_id"]), clinic, data["products"])
    lines.append("")
    return "\n".join(lines)
