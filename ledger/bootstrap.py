"""Wiring, in one place: settings in, a running `Runtime` out. Nothing else constructs adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from adapters.chain import Signer
from adapters.clock import Clock
from adapters.eventstore import LedgerStore
from adapters.payments.fake import FakeGateway
from adapters.payments.port import PaymentGateway
from adapters.payments.stripe_gateway import StripeGateway
from adapters.pharmacy import PharmacyClient
from api.auth import TokenPolicy
from api.runtime import Runtime
from domain.events import Actor
from ledger.fulfillment import build_policies, wire_fulfillment
from ledger.settings import Settings, SettingsError
from ledger.streams import wire_streams
from projections.db import PostgresViews, SqliteViews, ViewDatabase
from projections.escalations import EscalationsProjection
from projections.order_search import OrderSearch, PatientIndex
from projections.runner import Projection, ensure_schema
from projections.support import support_projections
from projections.timers import DueTimers
from service.catalog import configure_organization
from service.compliance_jobs import fail_interrupted
from service.deps import Deps
from service.medical_review import VisitSubmitter
from service.subscription_billing import subscription_handlers
from service.timers import TimerRunner
from service.unit import Context

SYSTEM = Actor(kind="system", id="bootstrap")


@dataclass
class Wiring:
    """Optional extra collaborators tests and the demo hand in (sandboxes, a shared fake gateway)."""

    gateways: dict[str, PaymentGateway] = field(default_factory=dict)
    beluga: VisitSubmitter | None = None  # else built from LEDGER_BELUGA_URL
    pharmacies: dict[str, PharmacyClient] | None = None  # else built from LEDGER_PHARMACY_URL
    clock: Clock | None = None  # tests' hand-moved clock; else LEDGER_NOW or the system's


def build_gateways(settings: Settings) -> dict[str, PaymentGateway]:
    gateways: dict[str, PaymentGateway] = {}
    if settings.env == "local" or settings.payment_gateway == "fake":
        # Its own small ledger file, so a restarted process (or the worker) sees earlier charges.
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        gateways["fake"] = FakeGateway(ledger_path=settings.var_dir / "fake-gateway.sqlite")
    if settings.stripe_api_key:
        gateways["stripe"] = StripeGateway(settings.stripe_api_key, settings.stripe_api_base)
    return gateways


def build_signer(settings: Settings) -> Signer:
    if settings.signing_key is None:
        raise SettingsError("LEDGER_SIGNING_KEY is not set (call Settings.with_local_defaults() first)")
    return Signer.from_b64(settings.signing_key)


def export_dir(settings: Settings) -> Path:
    return Path(settings.export_dir or settings.var_dir / "exports")


def build_views(settings: Settings) -> ViewDatabase:
    kind, target = settings.views_target()
    # The read side's pool is sized like the store's: both serve the same request threads.
    return (
        PostgresViews(target, max_size=settings.db_pool_size) if kind == "postgres" else SqliteViews(target)
    )


def default_projections(store: LedgerStore | None = None) -> list[Projection]:
    if store is None:
        return [OrderSearch(), DueTimers()]
    # order status, CS view, stuck orders; then the order index (search, a patient's orders, numbers),
    # the due-timer index the timer worker reads, and the escalation queue
    return [
        *support_projections(store),
        PatientIndex(),
        OrderSearch(),
        DueTimers(),
        EscalationsProjection(),
    ]


def build_store(settings: Settings) -> LedgerStore:
    """The event store the settings name (PostgreSQL, else SQLite under the var directory)."""
    if not settings.is_postgres:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    return LedgerStore(env=settings.store_env())


@dataclass
class Offline:
    """The store, views and projections without services or workers: the CLI's ops tools."""

    store: LedgerStore
    views: ViewDatabase
    projections: list[Projection]
    organization_id: str

    def close(self) -> None:
        self.views.close()
        self.store.close()


def build_offline(settings: Settings) -> Offline:
    store = build_store(settings)
    views = build_views(settings)
    projections = default_projections(store)
    ensure_schema(views, projections)
    return Offline(store, views, projections, settings.organization_id)


def build_runtime(settings: Settings, wiring: Wiring | None = None) -> Runtime:
    wiring = wiring or Wiring()
    if settings.secret is None:
        raise SettingsError("LEDGER_SECRET is not set (call Settings.with_local_defaults() first)")
    store = build_store(settings)
    gateways = {**build_gateways(settings), **wiring.gateways}
    deps = Deps(
        store=store,
        gateways=gateways,
        pending_after=timedelta(seconds=settings.payment_pending_after_s),
        clock=wiring.clock or settings.clock(),
        dunning_retry_days=settings.dunning_retry_days,
    )
    views = build_views(settings)
    projections = default_projections(store)
    ensure_schema(views, projections)
    ctx = Context(SYSTEM, settings.organization_id, "bootstrap", "bootstrap")
    configure_organization(deps, ctx, settings.organization_name, settings.payment_gateway)
    policies = build_policies(deps, settings, views=views, beluga=wiring.beluga, pharmacies=wiring.pharmacies)
    runtime = Runtime(
        deps=deps,
        views=views,
        projections=projections,
        token_secret=settings.secret,
        token_policy=TokenPolicy(
            organizations=frozenset(
                {
                    settings.organization_id,
                    *filter(None, map(str.strip, settings.served_organizations.split(","))),
                }
            ),
            service_max=timedelta(hours=settings.service_token_max_hours),
        ),
        organization_id=settings.organization_id,
        signer=build_signer(settings),
        export_dir=export_dir(settings),
        policies=policies,
        timers=TimerRunner(deps, views, subscription_handlers(), page=settings.timer_page),
        timer_poll_seconds=settings.timer_poll_seconds,
        beluga=policies.beluga,
        pharmacies=policies.pharmacies,
        webhook_secrets={
            "stripe": settings.stripe_webhook_secret or "",
            "beluga": settings.beluga_webhook_secret or "",
            "pharmacy": settings.pharmacy_webhook_secret or "",
        },
    )
    runtime.on_shutdown.append(views.close)
    runtime.on_shutdown.append(store.close)
    wire_streams(runtime)  # event feed, hash-chain sealer, compliance exports
    # An export left `running` by a process that stopped would otherwise read `running` forever.
    fail_interrupted(deps, older_than=timedelta(seconds=settings.export_interrupted_after_s))
    wire_fulfillment(runtime)  # webhooks' OpenAPI paths; the policy worker starts in `serve`/`worker`
    return runtime
