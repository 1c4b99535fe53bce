"""Settings, read once from the environment into one typed object.

Locally (`LEDGER_ENV=local`, the default) anything missing is generated and kept under
`./var/` so printed tokens keep working across restarts, and start-up says so. In production
a missing secret stops start-up with a message naming the variable.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from adapters.clock import Clock, StartedAt, system_clock
from adapters.dburl import eventsourcing_env, libpq_conninfo, parse_database_url

_LOCAL_SECRETS = (
    "LEDGER_SECRET",
    "LEDGER_STRIPE_WEBHOOK_SECRET",
    "LEDGER_BELUGA_WEBHOOK_SECRET",
    "LEDGER_PHARMACY_WEBHOOK_SECRET",
    "LEDGER_SIGNING_KEY",
)


class SettingsError(Exception):
    pass


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    env: Literal["local", "production"] = Field("local", alias="LEDGER_ENV")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    var_dir: Path = Field(Path("var"), alias="LEDGER_VAR_DIR")
    organization_id: str = Field("org_demo", alias="LEDGER_ORGANIZATION_ID")
    organization_name: str = Field("Demo Telehealth", alias="LEDGER_ORGANIZATION_NAME")
    # More organizations this deployment serves (comma-separated), beside LEDGER_ORGANIZATION_ID.
    served_organizations: str = Field("", alias="LEDGER_SERVED_ORGANIZATIONS")
    service_token_max_hours: float = Field(24 * 30, alias="LEDGER_SERVICE_TOKEN_MAX_HOURS", gt=0)
    payment_gateway: Literal["fake", "stripe"] = Field("fake", alias="LEDGER_PAYMENT_GATEWAY")
    stripe_api_key: str | None = Field(None, alias="LEDGER_STRIPE_API_KEY")
    stripe_api_base: str | None = Field(None, alias="LEDGER_STRIPE_API_BASE")
    secret: str | None = Field(None, alias="LEDGER_SECRET")
    stripe_webhook_secret: str | None = Field(None, alias="LEDGER_STRIPE_WEBHOOK_SECRET")
    beluga_webhook_secret: str | None = Field(None, alias="LEDGER_BELUGA_WEBHOOK_SECRET")
    pharmacy_webhook_secret: str | None = Field(None, alias="LEDGER_PHARMACY_WEBHOOK_SECRET")
    beluga_url: str | None = Field(None, alias="LEDGER_BELUGA_URL")
    beluga_api_key: str | None = Field(None, alias="LEDGER_BELUGA_API_KEY")
    pharmacy_url: str | None = Field(None, alias="LEDGER_PHARMACY_URL")
    pharmacy_api_key: str | None = Field(None, alias="LEDGER_PHARMACY_API_KEY")
    nats_url: str | None = Field(None, alias="NATS_URL")  # a cluster's nodes comma-separated
    nats_replicas: int = Field(1, alias="LEDGER_NATS_REPLICAS", ge=1)  # 3 on a JetStream cluster
    log_json: bool | None = Field(None, alias="LEDGER_LOG_JSON")
    log_level: str = Field("INFO", alias="LEDGER_LOG_LEVEL")
    db_pool_size: int = Field(10, alias="LEDGER_DB_POOL_SIZE")
    # Threads Starlette runs the (synchronous) endpoints in, per API process: sized against the pool.
    api_threads: int = Field(40, alias="LEDGER_API_THREADS", ge=1)
    # Ed25519 seed (32 bytes, base64) signing chain checkpoints and export manifests; locally generated.
    signing_key: str | None = Field(None, alias="LEDGER_SIGNING_KEY")
    # A charge attempt or keyed request with no outcome after this long is presumed interrupted:
    # the payment reconciler (and a replay of the key) re-drives it, asking the gateway first.
    payment_pending_after_s: float = Field(120.0, alias="LEDGER_PAYMENT_PENDING_AFTER_SECONDS", gt=0)
    export_dir: Path | None = Field(None, alias="LEDGER_EXPORT_DIR")  # default: <var>/exports
    # At start-up, an export still `running` that was requested this long ago lost its writer to a
    # stopped process (exports run in a thread of the process that took the request): it is failed.
    export_interrupted_after_s: float = Field(600.0, alias="LEDGER_EXPORT_INTERRUPTED_AFTER_SECONDS", ge=0)
    # A charge with no recorded outcome for this long raises a CHARGE_PENDING escalation.
    escalate_pending_charge_seconds: float = Field(900, alias="LEDGER_ESCALATE_PENDING_CHARGE_SECONDS", gt=0)
    # Local only: start the ledger's clock at this instant (it runs on from there), so a demo reaches
    # a subscription's due date by restarting with a later value. Production refuses it.
    now: datetime | None = Field(None, alias="LEDGER_NOW")
    # Days after a subscription cycle's first decline on which it is retried (dunning).
    dunning_retry_days: Annotated[tuple[int, ...], NoDecode] = Field(
        (1, 3, 5), alias="LEDGER_DUNNING_RETRY_DAYS"
    )
    timer_poll_seconds: float = Field(1.0, alias="LEDGER_TIMER_POLL_SECONDS")  # the timer worker's wake-up
    timer_page: int = Field(500, ge=1, alias="LEDGER_TIMER_PAGE")  # due timers one worker claims at a time

    @field_validator("now")
    @classmethod
    def _instant(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(
                "LEDGER_NOW must be an RFC 3339 instant with its offset, e.g. 2027-01-04T09:00:00Z"
            )
        return value

    @field_validator("dunning_retry_days", mode="before")
    @classmethod
    def _days_list(cls, value: object) -> object:
        if isinstance(value, str):  # "1,3,5", JSON "[1, 3, 5]" or "(1, 3, 5)"
            text = value.strip().strip("[]()")
            return tuple(int(part) for part in text.split(",") if part.strip())
        return value

    @field_validator("dunning_retry_days")
    @classmethod
    def _days_increasing(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(day < 1 for day in value) or list(value) != sorted(set(value)):
            raise ValueError("LEDGER_DUNNING_RETRY_DAYS must be increasing whole days, each at least 1")
        return value

    def clock(self) -> Clock:
        return system_clock if self.now is None else StartedAt(self.now)

    @property
    def json_logs(self) -> bool:
        return self.log_json if self.log_json is not None else self.env == "production"

    @property
    def is_postgres(self) -> bool:
        return bool(self.database_url) and parse_database_url(self.database_url or "").kind == "postgres"

    def store_env(self) -> dict[str, str]:
        if self.database_url:
            env = eventsourcing_env(parse_database_url(self.database_url))
        else:
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.var_dir / "ledger.sqlite"),
            }
        if self.is_postgres:
            env.setdefault("POSTGRES_POOL_SIZE", str(self.db_pool_size))
            env.setdefault("POSTGRES_MAX_OVERFLOW", str(self.db_pool_size))
            env.setdefault("POSTGRES_MAX_WAITING", "0")
        return env

    def views_target(self) -> tuple[str, str]:
        """("postgres", conninfo) or ("sqlite", path) for the read models."""
        if self.database_url and self.is_postgres:
            return "postgres", libpq_conninfo(parse_database_url(self.database_url))
        store_path = self.store_env()["SQLITE_DBNAME"]
        return "sqlite", str(Path(store_path).with_suffix(".views.sqlite"))

    def with_local_defaults(self) -> tuple[Settings, list[str]]:
        """Fill missing secrets from ./var, generating them once; production refuses instead.

        Returns the filled settings and the names generated by *this* call: a restart that finds its
        secrets kept in ./var/local-secrets.json generates (and reports) nothing.
        """
        missing = [name for name in _LOCAL_SECRETS if not getattr(self, _field(name))]
        if self.payment_gateway == "stripe" and not self.stripe_api_key:
            missing.append("LEDGER_STRIPE_API_KEY")
        if self.env == "production":
            if self.now is not None:
                raise SettingsError("LEDGER_NOW is for local environments only; production keeps real time")
            if missing:
                raise SettingsError("Missing required settings: " + ", ".join(missing))
            return self, []
        if "LEDGER_STRIPE_API_KEY" in missing:
            raise SettingsError("LEDGER_PAYMENT_GATEWAY=stripe needs LEDGER_STRIPE_API_KEY")
        self.var_dir.mkdir(parents=True, exist_ok=True)
        path = self.var_dir / "local-secrets.json"
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        generated = [name for name in missing if name not in stored]  # new now; the rest were kept
        for name in generated:
            stored[name] = secrets.token_urlsafe(32)
        if generated or not path.exists():
            path.write_text(json.dumps(stored, indent=2))
            path.chmod(0o600)
        filled = self.model_copy(update={_field(n): stored[n] for n in missing})
        return filled, generated


def _field(env_name: str) -> str:
    return {
        "LEDGER_SECRET": "secret",
        "LEDGER_STRIPE_WEBHOOK_SECRET": "stripe_webhook_secret",
        "LEDGER_BELUGA_WEBHOOK_SECRET": "beluga_webhook_secret",
        "LEDGER_PHARMACY_WEBHOOK_SECRET": "pharmacy_webhook_secret",
        "LEDGER_SIGNING_KEY": "signing_key",
    }[env_name]


def load_settings() -> Settings:
    return Settings()
