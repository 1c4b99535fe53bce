"""Organizations and patients: who owns what, and which cards a patient saved where."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from domain.events import Fact


class OrganizationFact(Fact):
    AGGREGATE = "organization"


class OrganizationConfigured(OrganizationFact):
    TYPE = "OrganizationConfigured"
    organization_id: str
    name: str
    active_gateway: str


class ActiveGatewayChanged(OrganizationFact):
    TYPE = "ActiveGatewayChanged"
    active_gateway: str
    previous_gateway: str


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    active_gateway: str


def evolve_organization(state: Organization | None, fact: Fact, aggregate_id: str) -> Organization:
    if isinstance(fact, OrganizationConfigured):
        return Organization(id=fact.organization_id, name=fact.name, active_gateway=fact.active_gateway)
    assert state is not None
    if isinstance(fact, ActiveGatewayChanged):
        return replace(state, active_gateway=fact.active_gateway)
    return state


class PatientFact(Fact):
    AGGREGATE = "patient"


class PatientRegistered(PatientFact):
    TYPE = "PatientRegistered"
    name: str
    email: str
    state: str


class PaymentMethodSaved(PatientFact):
    TYPE = "PaymentMethodSaved"
    payment_method_id: str
    gateway: str
    customer_ref: str
    payment_method_ref: str
    label: str | None = None
    brand: str | None = None
    last4: str | None = None


@dataclass(frozen=True)
class SavedPaymentMethod:
    id: str
    gateway: str
    customer_ref: str
    payment_method_ref: str
    label: str | None
    brand: str | None
    last4: str | None


@dataclass(frozen=True)
class Patient:
    id: str
    name: str
    email: str
    state: str
    payment_methods: tuple[SavedPaymentMethod, ...] = field(default=())

    def methods_for(self, gateway: str) -> tuple[SavedPaymentMethod, ...]:
        return tuple(m for m in self.payment_methods if m.gateway == gateway)

    def method(self, payment_method_id: str) -> SavedPaymentMethod | None:
        return next((m for m in self.payment_methods if m.id == payment_method_id), None)

    def customer_ref(self, gateway: str) -> str | None:
        return next((m.customer_ref for m in self.payment_methods if m.gateway == gateway), None)


def evolve_patient(state: Patient | None, fact: Fact, aggregate_id: str) -> Patient:
    if isinstance(fact, PatientRegistered):
        return Patient(id=aggregate_id, name=fact.name, email=fact.email, state=fact.state)
    assert state is not None
    if isinstance(fact, PaymentMethodSaved):
        method = SavedPaymentMethod(
            id=fact.payment_method_id,
            gateway=fact.gateway,
            customer_ref=fact.customer_ref,
            payment_method_ref=fact.payment_method_ref,
            label=fact.label,
            brand=fact.brand,
            last4=fact.last4,
        )
        return replace(state, payment_methods=(*state.payment_methods, method))
    return state
