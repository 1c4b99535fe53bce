"""How long validating a 500-line clinic cart takes, on SQLite (temporary file) or PostgreSQL.

Prints four medians: the pure rule over loaded data, the service call that loads every patient,
prescriber, product and pharmacy the lines name and validates (what `POST /clinic/carts/{id}/validate`
does, less the one recorded event), the full call that also records `CartValidated`, and beside them
a raw baseline measured in the same run: the same per-aggregate reads of the event table with the
driver alone (sqlite3 / psycopg), no decoding, folding or rules.
Usage: .venv/bin/python scripts/bench_cart_validation.py [--lines 500] [--runs 7] [--postgres]
  --postgres: a fresh database on the server tests use (TEST_DATABASE_URL, local, or a throwaway).
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.dburl import eventsourcing_env, libpq_conninfo, parse_database_url
from adapters.eventstore import LedgerStore
from adapters.payments.fake import FakeGateway
from domain.clinic.cart import LineDraft
from domain.clinic.validation import validate_cart
from domain.events import Actor
from service import catalog, clinic
from service.deps import Deps
from service.unit import Context, load

LIMIT_MS = 200.0
STATES = ["TX", "CA", "NY", "FL", "WA"]
SIGS = [
    "Inject 0.25 mg subcutaneously once weekly",
    "Inject 10 units SC every 7 days",
    "Take 1 tablet by mouth every 8 hours as needed for nausea",
    "Use as directed",
]


def median_ms(
    fn: Callable[[], object],
    runs: int,
    clock: Callable[[], float] = time.perf_counter,
    before: Callable[[int], object] = lambda run: None,
) -> float:
    times = []
    for run in range(runs):
        before(run)  # untimed
        start = clock()
        fn()
        times.append((clock() - start) * 1000)
    return statistics.median(times)


def build(deps: Deps, staff: Context, n: int) -> tuple[Context, str, str]:
    catalog.configure_organization(deps, staff, "Bench", "fake")
    products = [
        catalog.add_product(
            deps,
            staff,
            sku=f"SKU-{i}",
            name=f"Med {i}",
            price_cents=0,
            currency="usd",
            active=True,
            kind="medication",
            requires_intake=False,
            medical_review=None,
            pharmacy=None,
        ).id
        for i in range(5)
    ]
    pharmacies = [
        clinic.register_pharmacy(deps, staff, f"Pharmacy {i}", "belmar", STATES, 1500).id for i in range(3)
    ]
    for ph in pharmacies:
        for p in products:
            clinic.set_offering(
                deps,
                staff,
                ph,
                p,
                strength="10 mg/mL",
                vial_price_cents=5000,
                fee_cents=300,
                turnaround_days=3,
                on_hand=400,
            )
    clinic_id = clinic.register_clinic(deps, staff, "Bench Clinic").id
    user = clinic.register_clinic_user(deps, staff, clinic_id, "U", "u@example.test").id
    prescribers = [
        clinic.register_prescriber(deps, staff, clinic_id, f"Dr {i}", npi, STATES[: 3 + i]).id
        for i, npi in enumerate(["1234567893", "1245319599", "1679576722"])
    ]
    drafts = []
    for i in range(n):
        patient = catalog.register_patient(
            deps, staff, name=f"P{i}", email=f"p{i}@example.test", state=STATES[i % 5]
        ).id
        clinic.enroll_patient(deps, staff, clinic_id, patient)
        drafts.append(
            LineDraft(patient, products[i % 5], 1 + i % 3, pharmacies[i % 3], SIGS[i % 4], prescribers[i % 3])
        )
    ctx = staff.as_actor(Actor(kind="clinic_user", id=user))
    cart_id = clinic.open_cart(deps, ctx, user).cart.id
    clinic.add_lines(deps, ctx, user, cart_id, drafts)
    return ctx, user, cart_id


@contextlib.contextmanager
def database(postgres: bool) -> Iterator[tuple[str, str]]:
    """(kind, url or file) of an empty database, removed afterwards."""
    if postgres:
        from tests.support.postgres import fresh_database

        with fresh_database("bench_cart") as url:
            yield "postgres", url
    else:
        with tempfile.TemporaryDirectory() as tmp:
            yield "sqlite", str(Path(tmp) / "bench.sqlite")


def raw_reader(kind: str, where: str) -> tuple[Callable[[list[str]], int], Callable[[], None]]:
    """Read every stored event of each aggregate id, one query per aggregate, with the driver only."""
    if kind == "sqlite":
        lite = sqlite3.connect(where)

        def read_lite(ids: list[str]) -> int:
            query = (
                "SELECT originator_version, topic, state FROM stored_events WHERE originator_id = ? "
                "ORDER BY originator_version"
            )
            return sum(len(lite.execute(query, (i,)).fetchall()) for i in ids)

        return read_lite, lite.close
    conn = psycopg.connect(libpq_conninfo(parse_database_url(where)), autocommit=True)
    table = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_name LIKE '%events' ORDER BY table_name LIMIT 1"
    ).fetchone()
    assert table is not None, "no event table"
    query = (
        f"SELECT originator_version, topic, state FROM {table[0]} WHERE originator_id = %s "
        "ORDER BY originator_version"
    )

    def read_pg(ids: list[str]) -> int:
        with conn.cursor() as cur:
            return sum(len(cur.execute(query, (i,)).fetchall()) for i in ids)

    return read_pg, conn.close


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with database(args.postgres) as (kind, where):
        env = (
            eventsourcing_env(parse_database_url(where))
            if kind == "postgres"
            else {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": where}
        )
        store = LedgerStore(env=env)
        deps = Deps(store, gateways={"fake": FakeGateway()})
        staff = Context(Actor(kind="staff", id="bench"), "org-bench", "bench", "bench")
        ctx, user, cart_id = build(deps, staff, args.lines)
        clinic_state = clinic.clinic_of(deps, ctx, user)
        cart = load(store, "cart", cart_id).state
        world = clinic.cart_world(deps, ctx, clinic_state, cart)
        problems = validate_cart(cart, world)
        # What the service call reads: the user, the clinic, the cart and everything its lines name.
        ids = [
            user,
            clinic_state.id,
            cart_id,
            *world.patient_states,
            *world.prescribers,
            *world.products,
            *world.pharmacies,
        ]
        read_raw, close_raw = raw_reader(kind, where)
        try:
            raw = median_ms(lambda: read_raw(ids), args.runs)
        finally:
            close_raw()
        pure = median_ms(lambda: validate_cart(cart, world), args.runs)
        loaded = median_ms(lambda: clinic.validate_only(deps, ctx, user, cart_id), args.runs)
        # An unchanged cart's repeated outcome is not recorded again: edit one line (untimed) before
        # each run, so every timed call validates a changed cart and records its outcome.
        first_line = next(iter(cart.lines))

        def edit(run: int) -> None:
            clinic.change_line(deps, ctx, user, cart_id, first_line, quantity=1 + run % 2 + 1)

        recorded = median_ms(lambda: clinic.validate(deps, ctx, user, cart_id), args.runs, before=edit)
        # CPU time of this process for the same call: on a shared machine the wall time above also
        # counts the time other jobs held the cores, this does not (the driver's I/O waits excluded).
        cpu = median_ms(
            lambda: clinic.validate(deps, ctx, user, cart_id), args.runs, time.process_time, before=edit
        )
    print(
        f"{kind}: cart of {len(cart.lines)} lines, {len(problems)} problems found, {len(ids)} aggregates "
        f"read (median of {args.runs} runs)"
    )
    for label, ms in (
        (f"raw {kind} baseline, same reads, no decoding", raw),
        ("rules only (data in memory)", pure),
        (f"service call, loading from {kind}", loaded),
        ("service call + CartValidated recorded", recorded),
        ("  the same, CPU time of this process", cpu),
    ):
        print(f"  {label + ':':50}{ms:7.1f} ms")
    verdict = "PASS" if recorded < LIMIT_MS else "FAIL"
    lines = len(cart.lines)
    print(
        f"{verdict}: validating a {lines}-line cart takes {recorded:.1f} ms on {kind} "
        f"(limit {LIMIT_MS:.0f} ms)"
    )
    sys.exit(0 if verdict == "PASS" else 1)


if __name__ == "__main__":
    main()
