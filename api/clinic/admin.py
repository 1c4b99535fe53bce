"""Clinic directory set-up under /clinic/admin/ for staff and service: clinics, users, prescribers,
roster, partner pharmacies and their catalog (price, fees, turnaround, stock)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints
from starlette.routing import Route

from api import models as m
from api.endpoint import Call, Handler, Reply, endpoint
from api.routes_catalog import ERRORS
from service import clinic

ADMIN = ("staff", "service")


def _admin(
    method: str, path: str, summary: str, body: type[BaseModel], *, status: int = 201
) -> Callable[[Handler], Route]:
    """Every set-up route alike: staff or service, a body in, the id of what it set up out."""
    return endpoint(
        method,
        path,
        summary=summary,
        roles=ADMIN,
        tag="clinic-admin",
        body=body,
        responses={status: m.Created, **ERRORS},
    )


class NameIn(m.Strict):
    name: m.Text


class ClinicUserIn(m.Strict):
    name: m.Text
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)]


class PrescriberIn(m.Strict):
    name: m.Text
    npi: Annotated[str, StringConstraints(pattern=r"^\d{10}$")]
    licensed_states: Annotated[list[m.StateCode], Field(max_length=60)]
    dea_number: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}\d{7}$")] | None = None


class EnrollIn(m.Strict):
    patient_id: m.Id


class PharmacyIn(m.Strict):
    name: m.Text
    partner: m.Text
    licensed_states: Annotated[list[m.StateCode], Field(max_length=60)]
    shipping_cents: m.Cents
    currency: m.Currency = "usd"


class OfferingIn(m.Strict):
    product_id: m.Id
    strength: m.Text
    vial_price_cents: m.Cents
    fee_cents: m.Cents
    turnaround_days: Annotated[int, Field(ge=0, le=365)]
    active: bool = True
    on_hand: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    product_code: m.Text | None = None  # the pharmacy's code for it, when not the catalog's
    controlled: bool = False  # a scheduled substance: the prescriber's DEA number must travel


@_admin("POST", "/clinic/admin/clinics", "Register a clinic", NameIn)
def register_clinic(call: Call) -> Reply:
    return Reply(201, m.Created(id=clinic.register_clinic(call.runtime.deps, call.ctx(), call.body.name).id))


@_admin("POST", "/clinic/admin/clinics/{clinic_id}/users", "Register a clinic user", ClinicUserIn)
def register_user(call: Call) -> Reply:
    user = clinic.register_clinic_user(
        call.runtime.deps, call.ctx(), call.path("clinic_id"), call.body.name, call.body.email
    )
    return Reply(201, m.Created(id=user.id))


@_admin(
    "POST",
    "/clinic/admin/clinics/{clinic_id}/prescribers",
    "Register a prescriber (NPI, states)",
    PrescriberIn,
)
def register_prescriber(call: Call) -> Reply:
    b: PrescriberIn = call.body
    found = clinic.register_prescriber(
        call.runtime.deps,
        call.ctx(),
        call.path("clinic_id"),
        b.name,
        b.npi,
        list(b.licensed_states),
        dea_number=b.dea_number,
    )
    return Reply(201, m.Created(id=found.id))


@_admin("POST", "/clinic/admin/clinics/{clinic_id}/patients", "Put a patient on a clinic's roster", EnrollIn)
def enroll_patient(call: Call) -> Reply:
    clinic.enroll_patient(call.runtime.deps, call.ctx(), call.path("clinic_id"), call.body.patient_id)
    return Reply(201, m.Created(id=call.body.patient_id))


@_admin("POST", "/clinic/admin/pharmacies", "Register a 503A partner pharmacy", PharmacyIn)
def register_pharmacy(call: Call) -> Reply:
    b: PharmacyIn = call.body
    found = clinic.register_pharmacy(
        call.runtime.deps,
        call.ctx(),
        b.name,
        b.partner,
        list(b.licensed_states),
        b.shipping_cents,
        b.currency,
    )
    return Reply(201, m.Created(id=found.id))


@_admin(
    "PUT",
    "/clinic/admin/pharmacies/{pharmacy_id}/offerings",
    "Set a product's price, fees, turnaround and stock at a pharmacy",
    OfferingIn,
    status=200,
)
def set_offering(call: Call) -> Reply:
    b: OfferingIn = call.body
    found = clinic.set_offering(call.runtime.deps, call.ctx(), call.path("pharmacy_id"), **b.model_dump())
    return Reply(200, m.Created(id=found.id))


routes = [
    register_clinic,
    register_user,
    register_prescriber,
    enroll_patient,
    register_pharmacy,
    set_offering,
]
