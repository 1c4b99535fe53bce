"""Demo data for the clinic side (seed 000): a clinic with a nurse, two prescribers, two partner
pharmacies with per-vial prices and stock, three enrolled patients and a clinic card — enough to
build, validate and check out a small refill-day cart from the banner's curl lines."""

from __future__ import annotations

import json
from typing import Any

from service import catalog, clinic
from service.deps import Deps
from service.unit import Context

GOOD_SIG = "Inject 0.25 mg subcutaneously once weekly"


def seed_clinic(deps: Deps, ctx: Context, products: dict[str, str]) -> dict[str, Any]:
    sema, tirz = products["semaglutide"], products["tirzepatide"]
    belmar = clinic.register_pharmacy(
        deps, ctx, "Belmar Pharmacy", "belmar", ["TX", "CA", "NY", "FL"], shipping_cents=1500
    ).id
    dispensepro = clinic.register_pharmacy(
        deps, ctx, "DispensePro West", "dispensepro", ["TX", "CA"], shipping_cents=900
    ).id
    clinic.set_offering(
        deps,
        ctx,
        belmar,
        sema,
        strength="2.5 mg/mL",
        vial_price_cents=4500,
        fee_cents=350,
        turnaround_days=5,
        on_hand=500,
        product_code="BLM-SEMA-25",
    )
    clinic.set_offering(
        deps,
        ctx,
        belmar,
        tirz,
        strength="10 mg/mL",
        vial_price_cents=9000,
        fee_cents=500,
        turnaround_days=5,
        on_hand=0,
        product_code="BLM-TIRZ-10",
    )
    clinic.set_offering(
        deps,
        ctx,
        dispensepro,
        sema,
        strength="2.5 mg/mL",
        vial_price_cents=4900,
        fee_cents=0,
        turnaround_days=2,
        on_hand=100,
        product_code="DP-SEMA-25",
    )
    clinic.set_offering(
        deps,
        ctx,
        dispensepro,
        tirz,
        strength="10 mg/mL",
        vial_price_cents=9900,
        fee_cents=0,
        turnaround_days=2,
        on_hand=100,
        product_code="DP-TIRZ-10",
    )
    lone_star = clinic.register_clinic(deps, ctx, "Lone Star Wellness").id
    nurse = clinic.register_clinic_user(deps, ctx, lone_star, "Nurse Demo", "nurse@example.com").id
    dr_wide = clinic.register_prescriber(
        deps, ctx, lone_star, "Dr. Wide", "1234567893", ["TX", "CA", "NY"]
    ).id
    dr_texas = clinic.register_prescriber(deps, ctx, lone_star, "Dr. Texas", "9876543213", ["TX"]).id
    patients = []
    for name, state in (("Carmen Ortiz", "TX"), ("Dev Patel", "CA"), ("Eli Novak", "NY")):
        pid = catalog.register_patient(
            deps, ctx, name=name, email=f"{name.split()[0].lower()}@example.com", state=state
        ).id
        clinic.enroll_patient(deps, ctx, lone_star, pid)
        patients.append(pid)
    _, card = clinic.save_clinic_payment_method(deps, ctx, lone_star, gateway="fake", token="pm_card_visa")  # noqa: S106 - a public test token
    return {
        "clinic_id": lone_star,
        "user_id": nurse,
        "prescribers": {"wide": dr_wide, "texas_only": dr_texas},
        "pharmacies": {"belmar": belmar, "dispensepro": dispensepro},
        "patients": patients,
        "card": card,
    }


def clinic_banner(base_url: str, token: str, data: dict[str, Any], products: dict[str, str]) -> list[str]:
    auth = f"-H 'Authorization: Bearer {token}' -H 'Content-Type: application/json'"
    line = json.dumps(
        {
            "patient_id": data["patients"][1],
            "product_id": products["semaglutide"],
            "quantity": 2,
            "pharmacy_id": data["pharmacies"]["belmar"],
            "sig": GOOD_SIG,
            "prescriber_id": data["prescribers"]["texas_only"],
        }
    )
    return [
        "Clinic refill day (Lone Star Wellness; the nurse's clinic token):",
        f"  clinic:       {token}",
        f"  curl -s -X POST {base_url}/clinic/carts {auth}                      # note the cart id",
        f"  curl -s -X POST {base_url}/clinic/carts/<cart_id>/lines {auth} -d '{line}'",
        f"  curl -s -X POST {base_url}/clinic/carts/<cart_id>/validate {auth}",
        "  (that prescriber is licensed in TX only and the patient lives in CA:",
        "   validation says so on the line; fix it with",
        f'   PATCH .../lines/<line_id> {{"prescriber_id": "{data["prescribers"]["wide"]}"}}, then',
        "   POST .../checkout -H 'Idempotency-Key: day-1'",
        f'        -d \'{{"payment_method_id": "{data["card"]}"}}\')',
    ]
