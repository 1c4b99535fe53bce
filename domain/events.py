"""Events: past-tense facts, each with a stable stored name and a version from day one.

A `Fact` is what happened, in the domain's words. A `Recorded` envelope is a fact as the
ledger stored it: which aggregate, at which version, when, by whom, and why (correlation
and causation). Upcasters turn an old stored shape into the current one on read, so a
renamed field never breaks replay or an old export.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

ActorKind = Literal[
    "patient", "staff", "clinic_user", "cs", "ops", "compliance", "service", "policy", "webhook", "system"
]


class Actor(BaseModel):
    """Who caused an event: a person by role and id, a policy by name, a webhook by vendor."""

    model_config = ConfigDict(frozen=True)
    kind: ActorKind
    id: str

    def label(self) -> str:
        return f"{self.kind}:{self.id}"


class Fact(BaseModel):
    """Base of every domain event. Subclasses set TYPE (stored name) and AGGREGATE."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    AGGREGATE: ClassVar[str]
    # The ledger's own bookkeeping (an idempotency key claimed), not news about an order: kept in the
    # log and in exports, left out of the subscriber feed unless asked for by type.
    BOOKKEEPING: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("TYPE")
        if name is None:
            return  # an abstract intermediate class
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise TypeError(f"event name {name!r} is already taken by {_REGISTRY[name].__qualname__}")
        _REGISTRY[name] = cls


_REGISTRY: dict[str, type[Fact]] = {}


def is_bookkeeping(event_type: str) -> bool:
    found = _REGISTRY.get(event_type)
    return found is not None and found.BOOKKEEPING


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function that turns version `from_version` of a stored payload into the next."""

    def register(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def fact_class(event_type: str) -> type[Fact]:
    try:
        return _REGISTRY[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None


def all_event_types() -> list[str]:
    return sorted(_REGISTRY)


def load_fact(event_type: str, version: int, data: dict[str, Any]) -> Fact:
    """Rebuild a fact from its stored payload, upcasting old versions step by step."""
    cls = fact_class(event_type)
    while version < cls.VERSION:
        data = _UPCASTERS[(event_type, version)](dict(data))
        version += 1
    return cls.model_validate(data)


class UnknownEventType(KeyError):
    pass


@dataclass(frozen=True)
class Meta:
    """Who, when, why: carried by every recorded event."""

    event_id: UUID
    organization_id: str
    occurred_at: datetime
    actor: Actor
    correlation_id: str
    causation_id: str


@dataclass(frozen=True)
class Recorded:
    """A fact as stored in an aggregate's stream (satisfies the library's event protocol)."""

    originator_id: UUID
    originator_version: int
    fact: Fact
    meta: Meta

    @property
    def type(self) -> str:
        return self.fact.TYPE

    @property
    def aggregate_type(self) -> str:
        return self.fact.AGGREGATE

    @property
    def timestamp(self) -> datetime:
        return self.meta.occurred_at
