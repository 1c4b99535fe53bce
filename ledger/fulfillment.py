"""Wiring for medical review, pharmacies, webhooks and the policy worker (called by the bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from adapters.beluga import BelugaClient
from adapters.pharmacy import BELMAR, DISPENSEPRO, PharmacyClient, pharmacy_client
from adapters.sandbox.beluga_server import create_beluga_sandbox
from adapters.sandbox.persist import PersistedSandbox
from adapters.sandbox.pharmacy_server import create_pharmacy_sandbox
from adapters.sandbox.runner import RunningServer, serve_in_thread
from adapters.singleton import SingletonLoop
from api import webhooks
from api.runtime import Runtime
from ledger.settings import Settings
from projections.db import ViewDatabase
from service.deps import Deps
from service.medical_review import VisitSubmitter
from service.policies import Policies, run_policies_once


def build_beluga(settings: Settings) -> BelugaClient | None:
    if not settings.beluga_url:
        return None  # submissions are then recorded as failed, naming the missing configuration
    return BelugaClient(settings.beluga_url, settings.beluga_api_key or "")


def build_pharmacies(settings: Settings) -> dict[str, PharmacyClient]:
    """Both partners behind one base URL (LifeFile and DispensePro paths differ); none when unset."""
    if not settings.pharmacy_url:
        return {}
    return {
        partner: pharmacy_client(partner, settings.pharmacy_url, settings.pharmacy_api_key or "")
        for partner in (BELMAR, DISPENSEPRO)
    }


def build_policies(
    deps: Deps,
    settings: Settings,
    *,
    views: ViewDatabase | None = None,
    beluga: VisitSubmitter | None = None,
    pharmacies: dict[str, PharmacyClient] | None = None,
) -> Policies:
    """The policy set over the vendors handed in (tests, the demo) or built from the settings."""
    beluga = beluga if beluga is not None else build_beluga(settings)
    pharmacies = pharmacies if pharmacies is not None else build_pharmacies(settings)
    return Policies(
        deps,
        beluga,
        pharmacies,
        views=views,
        pending_charge_after=timedelta(seconds=settings.escalate_pending_charge_seconds),
    )


def wire_fulfillment(runtime: Runtime) -> None:
    runtime.openapi_paths.update(webhooks.OPENAPI_PATHS)


def start_policy_worker(runtime: Runtime, poll_seconds: float = 0.5) -> SingletonLoop:
    """Run the gate, the pharmacy submitter, medical-review auto-submit and webhook re-apply here: the
    one active policy worker across processes (advisory lock), woken by LISTEN/NOTIFY on PostgreSQL."""
    policies = runtime.policies
    worker = SingletonLoop(
        "policies",
        runtime.deps.store,
        lambda: run_policies_once(policies),
        poll=poll_seconds,
        wake_on=runtime.deps.after_commit,
    ).start()
    # Shutdown hooks run in reverse: appended last, the worker stops before the store it reads closes.
    runtime.on_shutdown.append(worker.stop)
    return worker


@dataclass
class DemoVendors:
    """Beluga and pharmacy sandboxes run in-process for `ledger serve` on a laptop."""

    beluga: RunningServer
    pharmacy: RunningServer

    def stop(self) -> None:
        self.beluga.stop()
        self.pharmacy.stop()

    def banner(self, master_hint: str = "<masterId>") -> str:
        return "\n".join(
            [
                "Local vendors (in-process sandboxes; their webhooks come back to this ledger, signed):",
                f"  Beluga:   {self.beluga.url}   visits: curl -s {self.beluga.url}/_sandbox/visits",
                "    write the prescription: curl -s -X POST "
                f"{self.beluga.url}/_sandbox/visits/{master_hint}/rx-written",
                "    <masterId> is the order's medical_review.master_id: mr-<order id> "
                "(mr-<order id>.2 after a new consult)",
                f"  Pharmacy: {self.pharmacy.url}   orders: curl -s {self.pharmacy.url}/_sandbox/orders",
                f"    move an order on: curl -s -X POST {self.pharmacy.url}/_sandbox/orders/"
                "<referenceId>/status/accepted   (then shipped, delivered)",
                "    <referenceId> is the ledger order id (<order id>.2 after a resubmission), "
                "as /_sandbox/orders lists it",
                "  A paid refill is sent to Beluga by itself once its intake is accepted "
                '(POST /orders/<id>/intake {"status": "accepted"});',
                "  a blocked one says why under medical_review.blocked_reasons: fix the product "
                "(PATCH /products/<id>) and POST /orders/<id>/medical-review/retry.",
            ]
        )


def start_demo_vendors(settings: Settings, host: str, port: int) -> tuple[Settings, DemoVendors | None]:
    """Locally (`LEDGER_ENV=local`, either store) with no vendor configured — a newcomer's laptop —
    start both sandboxes and point the settings at them; anywhere else, change nothing."""
    if settings.env != "local" or settings.beluga_url or settings.pharmacy_url:
        return settings, None
    own = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
    beluga_key, pharmacy_key = "local-beluga-key", "local-pharmacy-key"
    kept = settings.var_dir / "sandboxes"  # their visits and orders survive a restart, as a vendor's would
    beluga = serve_in_thread(
        PersistedSandbox(
            create_beluga_sandbox(f"{own}/webhooks/beluga", settings.beluga_webhook_secret or "", beluga_key),
            kept / "beluga.json",
            ("visits", "events"),
        )
    )
    pharmacy = serve_in_thread(
        PersistedSandbox(
            create_pharmacy_sandbox(
                lambda partner: f"{own}/webhooks/pharmacies/{partner}",
                settings.pharmacy_webhook_secret or "",
                pharmacy_key,
            ),
            kept / "pharmacy.json",
            ("orders",),
        )
    )
    updated = settings.model_copy(
        update={
            "beluga_url": beluga.url,
            "beluga_api_key": beluga_key,
            "pharmacy_url": pharmacy.url,
            "pharmacy_api_key": pharmacy_key,
        }
    )
    return updated, DemoVendors(beluga, pharmacy)
