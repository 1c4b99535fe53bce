"""The clinic's lists (API.md "Clinic ordering"): orders with tracking, catalog, roster, prescribers,
quickfills and carts. Each is scoped to the caller's clinic and paged with `limit` / `after`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from api import models as m
from api.clinic.models import ClinicOrderOut, clinic_order_out, clinic_route, user_of
from api.endpoint import Call, Reply
from domain.clinic.pricing import alone_in_shipment
from service.clinic import reads

Limit = Annotated[int, Field(ge=1, le=500)]


class Paged(m.Strict):
    limit: Limit = 50
    after: m.Id | None = None


class PageInfo(BaseModel):
    total: int
    next_after: str | None


class OrdersQuery(Paged):
    status: m.Text | None = None
    patient_id: m.Id | None = None
    checkout_id: m.Id | None = None
    from_: datetime | None = Field(None, alias="from")
    to: datetime | None = None


class OrdersPage(PageInfo):
    orders: list[ClinicOrderOut]


class CatalogQuery(Paged):
    product_id: m.Id | None = None


class OfferOut(BaseModel):
    pharmacy_id: str
    pharmacy_name: str
    strength: str
    vial_price_cents: int
    fee_cents: int
    shipping_cents: int  # one fee per shipment
    landed_unit_cents: int  # one vial shipped alone: price + fees + the whole shipping fee
    turnaround_days: int
    on_hand: int
    licensed_states: list[str]


class CatalogProductOut(BaseModel):
    product_id: str
    sku: str
    name: str
    offers: list[OfferOut]


class CatalogPage(PageInfo):
    products: list[CatalogProductOut]


class RosterQuery(Paged):
    state: m.StateCode | None = None
    q: m.Text | None = None


class PatientOut(BaseModel):
    id: str
    name: str
    state: str


class RosterPage(PageInfo):
    patients: list[PatientOut]


class PrescribersQuery(Paged):
    state: m.StateCode | None = None


class PrescriberOut(BaseModel):
    id: str
    name: str
    npi: str
    licensed_states: list[str]
    has_dea: bool


class PrescribersPage(PageInfo):
    prescribers: list[PrescriberOut]


class QuickfillsQuery(Paged):
    product_id: m.Id | None = None


class QuickfillListOut(BaseModel):
    id: str
    name: str
    product_id: str
    quantity: int
    pharmacy_id: str
    sig: str
    prescriber_id: str


class QuickfillsPage(PageInfo):
    quickfills: list[QuickfillListOut]


class CartsQuery(Paged):
    status: Literal["open", "checked_out"] | None = None


class CartSummaryOut(BaseModel):
    id: str
    status: Literal["open", "checked_out"]
    line_count: int
    patient_count: int
    validated: Literal["not_validated", "ok", "problems"]
    problem_count: int
    total_cents: int | None  # known once validated or checked out
    invoice_id: str | None


class CartsPage(PageInfo):
    carts: list[CartSummaryOut]


@clinic_route(
    "GET", "/clinic/orders", "The clinic's orders with tracking, newest first", OrdersPage, query=OrdersQuery
)
def list_orders(call: Call) -> Reply:
    q: OrdersQuery = call.query
    where = reads.OrderFilter(q.status, q.patient_id, q.checkout_id, q.from_, q.to)
    found = reads.clinic_orders(call.runtime.deps, call.ctx(), user_of(call), where, q.limit, q.after)
    return Reply(
        200,
        OrdersPage(
            orders=[clinic_order_out(o) for o in found.items], total=found.total, next_after=found.next_after
        ),
    )


@clinic_route(
    "GET",
    "/clinic/catalog",
    "Products with each pharmacy's landed per-vial cost, turnaround and stock",
    CatalogPage,
    query=CatalogQuery,
)
def list_catalog(call: Call) -> Reply:
    q: CatalogQuery = call.query
    found = reads.catalog(call.runtime.deps, call.ctx(), user_of(call), q.product_id, q.limit, q.after)
    products = [
        CatalogProductOut(
            product_id=e.product.id,
            sku=e.product.sku,
            name=e.product.name,
            offers=[
                OfferOut(
                    pharmacy_id=ph.id,
                    pharmacy_name=ph.name,
                    strength=o.strength,
                    vial_price_cents=o.vial_price_cents,
                    fee_cents=o.fee_cents,
                    shipping_cents=ph.shipping_cents,
                    landed_unit_cents=alone_in_shipment(ph, o, 1).landed_unit_cents,
                    turnaround_days=o.turnaround_days,
                    on_hand=max(o.on_hand, 0),
                    licensed_states=sorted(ph.licensed_states),
                )
                for ph, o in e.offers
            ],
        )
        for e in found.items
    ]
    return Reply(200, CatalogPage(products=products, total=found.total, next_after=found.next_after))


@clinic_route("GET", "/clinic/patients", "The clinic's roster", RosterPage, query=RosterQuery)
def list_patients(call: Call) -> Reply:
    q: RosterQuery = call.query
    found = reads.roster(call.runtime.deps, call.ctx(), user_of(call), q.state, q.q, q.limit, q.after)
    patients = [PatientOut(id=p.id, name=p.name, state=p.state) for p in found.items]
    return Reply(200, RosterPage(patients=patients, total=found.total, next_after=found.next_after))


@clinic_route(
    "GET",
    "/clinic/prescribers",
    "The clinic's prescribers with NPI and licensed states",
    PrescribersPage,
    query=PrescribersQuery,
)
def list_prescribers(call: Call) -> Reply:
    q: PrescribersQuery = call.query
    found = reads.prescribers(call.runtime.deps, call.ctx(), user_of(call), q.state, q.limit, q.after)
    out = [
        PrescriberOut(
            id=p.id,
            name=p.name,
            npi=p.npi,
            licensed_states=sorted(p.licensed_states),
            has_dea=p.dea_number is not None,
        )
        for p in found.items
    ]
    return Reply(200, PrescribersPage(prescribers=out, total=found.total, next_after=found.next_after))


@clinic_route(
    "GET", "/clinic/quickfills", "The clinic's saved line templates", QuickfillsPage, query=QuickfillsQuery
)
def list_quickfills(call: Call) -> Reply:
    q: QuickfillsQuery = call.query
    found = reads.quickfills(call.runtime.deps, call.ctx(), user_of(call), q.product_id, q.limit, q.after)
    out = [
        QuickfillListOut(
            id=t.id,
            name=t.name,
            product_id=t.product_id,
            quantity=t.quantity,
            pharmacy_id=t.pharmacy_id,
            sig=t.sig,
            prescriber_id=t.prescriber_id,
        )
        for t in found.items
    ]
    return Reply(200, QuickfillsPage(quickfills=out, total=found.total, next_after=found.next_after))


@clinic_route(
    "GET",
    "/clinic/carts",
    "The clinic's carts, newest first, with their validation state",
    CartsPage,
    query=CartsQuery,
)
def list_carts(call: Call) -> Reply:
    q: CartsQuery = call.query
    found = reads.carts(call.runtime.deps, call.ctx(), user_of(call), q.status, q.limit, q.after)
    out = []
    for c in found.items:
        v = c.last_validation
        out.append(
            CartSummaryOut(
                id=c.id,
                status="checked_out" if c.checked_out else "open",
                line_count=len(c.lines),
                patient_count=len({ln.patient_id for ln in c.lines.values()}),
                validated="not_validated" if v is None else ("ok" if v.ok else "problems"),
                problem_count=len(v.problems) if v else 0,
                total_cents=c.checked_out.total_cents if c.checked_out else (v.total_cents if v else None),
                invoice_id=c.checked_out.invoice_id if c.checked_out else None,
            )
        )
    return Reply(200, CartsPage(carts=out, total=found.total, next_after=found.next_after))


routes = [list_orders, list_catalog, list_patients, list_prescribers, list_quickfills, list_carts]
