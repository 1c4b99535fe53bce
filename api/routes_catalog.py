"""Catalog, patients and saved payment methods (staff or service)."""

from __future__ import annotations

from typing import Any

from api import models as m
from api.endpoint import Call, Reply, endpoint
from api.problems import Problem
from api.views import patient_out, product_out
from domain.catalog import LabRequirement, MedicalReviewMapping, PharmacyMapping
from domain.errors import InvalidCommand
from service import catalog

ADMIN = ("staff", "service")
ERRORS: dict[int, type[Problem]] = {
    400: Problem,
    401: Problem,
    403: Problem,
    404: Problem,
    409: Problem,
    422: Problem,
}


def _review(v: m.MedicalReviewIn | None) -> MedicalReviewMapping | None:
    return MedicalReviewMapping(**v.model_dump()) if v else None


def _pharmacy(v: m.PharmacyIn | None) -> PharmacyMapping | None:
    return PharmacyMapping(**v.model_dump()) if v else None


def _lab(v: m.LabIn | None) -> LabRequirement | None:
    return LabRequirement(steps=tuple(v.steps), method=v.method) if v else None


@endpoint(
    "POST",
    "/products",
    summary="Add a product to the catalog",
    roles=ADMIN,
    tag="catalog",
    body=m.ProductIn,
    responses={201: m.ProductOut, **ERRORS},
)
def add_product(call: Call) -> Reply:
    b: m.ProductIn = call.body
    product = catalog.add_product(
        call.runtime.deps,
        call.ctx(),
        sku=b.sku,
        name=b.name,
        price_cents=b.price_cents,
        currency=b.currency,
        active=b.active,
        kind=b.kind,
        requires_intake=b.requires_intake,
        medical_review=_review(b.medical_review),
        pharmacy=_pharmacy(b.pharmacy),
        lab=_lab(b.lab),
    )
    return Reply(201, product_out(product))


@endpoint(
    "GET",
    "/products/{product_id}",
    summary="A product as the catalog has it now",
    roles=(*ADMIN, "cs", "ops"),
    tag="catalog",
    responses={200: m.ProductOut, **ERRORS},
)
def get_product(call: Call) -> Reply:
    return Reply(
        200, product_out(catalog.get_product(call.runtime.deps, call.ctx(), call.path("product_id")))
    )


@endpoint(
    "PATCH",
    "/products/{product_id}",
    summary="Change SKU, price, active flag or mappings",
    roles=ADMIN,
    tag="catalog",
    body=m.ProductPatch,
    responses={200: m.ProductOut, **ERRORS},
)
def patch_product(call: Call) -> Reply:
    b: m.ProductPatch = call.body
    given = b.model_fields_set
    if not given:
        raise InvalidCommand("Name at least one field to change.", field="body")
    changes: dict[str, Any] = {}
    for name in ("sku", "price_cents", "active", "requires_intake"):
        if name in given:
            if getattr(b, name) is None:
                raise InvalidCommand(f"{name} cannot be null.", field=name)
            changes[name] = getattr(b, name)
    for name in ("medical_review", "pharmacy", "lab"):
        if name in given:
            nested = getattr(b, name)
            # A merge patch: only the keys the caller wrote, so an omitted key keeps its value.
            changes[name] = None if nested is None else nested.model_dump(include=nested.model_fields_set)
    product = catalog.change_product(call.runtime.deps, call.ctx(), call.path("product_id"), changes)
    return Reply(200, product_out(product))


@endpoint(
    "POST",
    "/patients",
    summary="Register a patient",
    roles=ADMIN,
    tag="patients",
    body=m.PatientIn,
    responses={201: m.PatientOut, **ERRORS},
)
def register_patient(call: Call) -> Reply:
    b: m.PatientIn = call.body
    patient = catalog.register_patient(
        call.runtime.deps, call.ctx(), name=b.name, email=b.email, state=b.state
    )
    return Reply(201, patient_out(patient))


@endpoint(
    "GET",
    "/patients/{patient_id}",
    summary="A patient and their saved payment methods",
    roles=("patient", *ADMIN, "cs"),
    tag="patients",
    responses={200: m.PatientOut, **ERRORS},
)
def get_patient(call: Call) -> Reply:
    patient_id = call.path("patient_id")
    call.only_own(patient_id, "patient")
    return Reply(200, patient_out(catalog.get_patient(call.runtime.deps, call.ctx(), patient_id)))


@endpoint(
    "POST",
    "/patients/{patient_id}/payment-methods",
    summary="Save a card at a gateway",
    roles=ADMIN,
    tag="patients",
    body=m.PaymentMethodIn,
    responses={201: m.PaymentMethodOut, **ERRORS},
)
def save_payment_method(call: Call) -> Reply:
    b: m.PaymentMethodIn = call.body
    patient, method_id = catalog.save_payment_method(
        call.runtime.deps,
        call.ctx(),
        call.path("patient_id"),
        gateway=b.gateway,
        token=b.token,
        label=b.label,
    )
    method = patient.method(method_id)
    assert method is not None
    return Reply(
        201,
        m.PaymentMethodOut(
            id=method.id, gateway=method.gateway, label=method.label, brand=method.brand, last4=method.last4
        ),
    )


routes = [add_product, get_product, patch_product, register_patient, get_patient, save_payment_method]
