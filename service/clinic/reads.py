"""What a clinic user can list: its orders (with tracking), the catalog, roster, prescribers,
quickfills and carts. Each is scoped to the caller's clinic (another clinic's records are simply
absent), filtered, and paged with `limit` / `after` (the last id of the previous page).

Lists are read by scanning one event type's notifications and decoding the first fact, which names
the clinic, so only the clinic's own aggregates are folded. A clinic-directory projection replaces
the scans once clinics hold tens of thousands of orders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from adapters.eventstore import decode_notification
from domain.catalog import Product
from domain.clinic.cart import Cart
from domain.clinic.directory import Clinic, Prescriber
from domain.clinic.pharmacies import Offering, Pharmacy
from domain.clinic.quickfills import Quickfill
from domain.errors import InvalidCommand, NotFound
from domain.events import Recorded
from domain.orders import Order
from domain.parties import Patient
from domain.status import order_status
from service.clinic.directory import all_pharmacies, clinic_of
from service.deps import Deps
from service.unit import Context, try_load

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int  # matching the filters, over all pages
    next_after: str | None  # pass as `after` for the next page; None on the last


def page(items: Sequence[T], key: Callable[[T], str], limit: int, after: str | None) -> Page[T]:
    if not 1 <= limit <= 500:
        raise InvalidCommand("limit must be between 1 and 500.", field="limit")
    start = 0
    if after is not None:
        ids = [key(i) for i in items]
        if after not in ids:
            raise InvalidCommand("after names no item of this list.", field="after")
        start = ids.index(after) + 1
    chunk = list(items[start : start + limit])
    more = start + limit < len(items)
    return Page(chunk, len(items), key(chunk[-1]) if more and chunk else None)


def _first_facts(deps: Deps, ctx: Context, event_type: str) -> Iterable[Recorded]:
    for n in deps.store.iter_notifications(topics=[event_type]):
        recorded = decode_notification(n)
        if recorded.meta.organization_id == ctx.organization_id:
            yield recorded


def _states(deps: Deps, kind: type[T], ids: Iterable[str]) -> list[T]:
    found = (try_load(deps.store, kind, i) for i in ids)
    return [f.state for f in found if f is not None]


def _owned_ids(deps: Deps, ctx: Context, event_type: str, clinic: Clinic) -> list[str]:
    return [
        str(r.originator_id)
        for r in _first_facts(deps, ctx, event_type)
        if getattr(r.fact, "clinic_id", None) == clinic.id
    ]


@dataclass(frozen=True)
class OrderFilter:
    status: str | None = None
    patient_id: str | None = None
    checkout_id: str | None = None  # the cart or the invoice a checkout made
    placed_from: datetime | None = None
    placed_to: datetime | None = None


def clinic_orders(
    deps: Deps, ctx: Context, user_id: str, where: OrderFilter, limit: int, after: str | None
) -> Page[Order]:
    """Newest first. Filters on the placing fact are applied before any order is folded."""
    clinic = clinic_of(deps, ctx, user_id)
    candidates = []
    for r in _first_facts(deps, ctx, "OrderPlaced"):
        placed = r.fact
        if getattr(placed, "clinic_id", None) != clinic.id:
            continue
        if where.patient_id is not None and placed.patient_id != where.patient_id:  # type: ignore[attr-defined]
            continue
        if where.checkout_id is not None and where.checkout_id not in (
            placed.cart_id,  # type: ignore[attr-defined]
            placed.invoice_id,  # type: ignore[attr-defined]
        ):
            continue
        at: datetime = placed.placed_at  # type: ignore[attr-defined]
        if (where.placed_from and at < where.placed_from) or (where.placed_to and at >= where.placed_to):
            continue
        candidates.append((at, str(r.originator_id)))
    candidates.sort(reverse=True)
    orders = _states(deps, Order, (oid for _, oid in candidates))
    if where.status is not None:
        orders = [o for o in orders if order_status(o) == where.status]
    return page(orders, lambda o: o.id, limit, after)


def clinic_order(deps: Deps, ctx: Context, user_id: str, order: Order) -> Order:
    """The order when it is this clinic's; another clinic's (or a portal order) is not found."""
    if order.placed.clinic_id != clinic_of(deps, ctx, user_id).id:
        raise NotFound("No such order.")
    return order


@dataclass(frozen=True)
class CatalogEntry:
    product: Product
    offers: list[tuple[Pharmacy, Offering]]  # active offerings, cheapest landed vial first


def catalog(
    deps: Deps, ctx: Context, user_id: str, product_id: str | None, limit: int, after: str | None
) -> Page[CatalogEntry]:
    clinic_of(deps, ctx, user_id)
    by_product: dict[str, list[tuple[Pharmacy, Offering]]] = {}
    for pharmacy in all_pharmacies(deps, ctx):
        for offering in pharmacy.offerings.values():
            if offering.active and product_id in (None, offering.product_id):
                by_product.setdefault(offering.product_id, []).append((pharmacy, offering))
    products = [p for p in _states(deps, Product, sorted(by_product)) if p.active]
    products.sort(key=lambda p: (p.name, p.id))
    entries = [
        CatalogEntry(
            p,
            sorted(
                by_product[p.id],
                key=lambda po: (po[1].vial_price_cents + po[1].fee_cents + po[0].shipping_cents, po[0].name),
            ),
        )
        for p in products
    ]
    return page(entries, lambda e: e.product.id, limit, after)


def roster(
    deps: Deps, ctx: Context, user_id: str, state: str | None, q: str | None, limit: int, after: str | None
) -> Page[Patient]:
    clinic = clinic_of(deps, ctx, user_id)
    patients = _states(deps, Patient, sorted(clinic.patient_ids))
    if state is not None:
        patients = [p for p in patients if p.state == state]
    if q:
        patients = [p for p in patients if q.casefold() in p.name.casefold()]
    patients.sort(key=lambda p: (p.name.casefold(), p.id))
    return page(patients, lambda p: p.id, limit, after)


def prescribers(
    deps: Deps, ctx: Context, user_id: str, state: str | None, limit: int, after: str | None
) -> Page[Prescriber]:
    clinic = clinic_of(deps, ctx, user_id)
    ids = _owned_ids(deps, ctx, "PrescriberRegistered", clinic)
    found = _states(deps, Prescriber, ids)
    if state is not None:
        found = [p for p in found if state in p.licensed_states]
    found.sort(key=lambda p: (p.name.casefold(), p.id))
    return page(found, lambda p: p.id, limit, after)


def quickfills(
    deps: Deps, ctx: Context, user_id: str, product_id: str | None, limit: int, after: str | None
) -> Page[Quickfill]:
    clinic = clinic_of(deps, ctx, user_id)
    ids = _owned_ids(deps, ctx, "QuickfillSaved", clinic)
    found = _states(deps, Quickfill, ids)
    if product_id is not None:
        found = [q for q in found if q.product_id == product_id]
    found.sort(key=lambda q: (q.name.casefold(), q.id))
    return page(found, lambda q: q.id, limit, after)


def carts(
    deps: Deps, ctx: Context, user_id: str, status: str | None, limit: int, after: str | None
) -> Page[Cart]:
    """Newest first (the cart stream's order of opening)."""
    clinic = clinic_of(deps, ctx, user_id)
    ids = list(reversed(_owned_ids(deps, ctx, "CartOpened", clinic)))
    found = _states(deps, Cart, ids)
    if status is not None:
        found = [c for c in found if ("checked_out" if c.checked_out else "open") == status]
    return page(found, lambda c: c.id, limit, after)
