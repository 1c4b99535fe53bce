"""Clinics, their users, patients on their roster, saved cards, and their prescribers.

A clinic user's token names the user; the user names the clinic. Everything a clinic touches
(carts, quickfills, prescribers, patients) is checked against that clinic, so another clinic's
record is simply "not found".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from domain.errors import InvalidCommand
from domain.events import Fact
from domain.parties import SavedPaymentMethod

_STATE_CODES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
    "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR"
)
US_STATES = frozenset(_STATE_CODES.split(" "))


class ClinicFact(Fact):
    AGGREGATE = "clinic"


class ClinicRegistered(ClinicFact):
    TYPE = "ClinicRegistered"
    name: str


class ClinicPatientEnrolled(ClinicFact):
    TYPE = "ClinicPatientEnrolled"
    patient_id: str


class ClinicPaymentMethodSaved(ClinicFact):
    TYPE = "ClinicPaymentMethodSaved"
    payment_method_id: str
    gateway: str
    customer_ref: str
    payment_method_ref: str
    label: str | None = None
    brand: str | None = None
    last4: str | None = None


@dataclass(frozen=True)
class Clinic:
    id: str
    name: str
    patient_ids: frozenset[str] = frozenset()
    payment_methods: tuple[SavedPaymentMethod, ...] = field(default=())

    def method(self, payment_method_id: str) -> SavedPaymentMethod | None:
        return next((m for m in self.payment_methods if m.id == payment_method_id), None)

    def customer_ref(self, gateway: str) -> str | None:
        return next((m.customer_ref for m in self.payment_methods if m.gateway == gateway), None)


def evolve_clinic(state: Clinic | None, fact: Fact, aggregate_id: str) -> Clinic:
    if isinstance(fact, ClinicRegistered):
        return Clinic(id=aggregate_id, name=fact.name)
    assert state is not None, f"{fact.TYPE} before ClinicRegistered"
    if isinstance(fact, ClinicPatientEnrolled):
        return replace(state, patient_ids=state.patient_ids | {fact.patient_id})
    if isinstance(fact, ClinicPaymentMethodSaved):
        method = SavedPaymentMethod(
            fact.payment_method_id,
            fact.gateway,
            fact.customer_ref,
            fact.payment_method_ref,
            fact.label,
            fact.brand,
            fact.last4,
        )
        return replace(state, payment_methods=(*state.payment_methods, method))
    return state


class ClinicUserRegistered(Fact):
    TYPE = "ClinicUserRegistered"
    AGGREGATE = "clinic_user"
    clinic_id: str
    name: str
    email: str


@dataclass(frozen=True)
class ClinicUser:
    id: str
    clinic_id: str
    name: str
    email: str


def evolve_clinic_user(state: ClinicUser | None, fact: Fact, aggregate_id: str) -> ClinicUser:
    assert isinstance(fact, ClinicUserRegistered)
    return ClinicUser(aggregate_id, fact.clinic_id, fact.name, fact.email)


class PrescriberFact(Fact):
    AGGREGATE = "prescriber"


class PrescriberRegistered(PrescriberFact):
    TYPE = "PrescriberRegistered"
    clinic_id: str
    name: str
    npi: str
    licensed_states: tuple[str, ...]
    dea_number: str | None = None  # needed only for controlled products


class PrescriberLicensesChanged(PrescriberFact):
    TYPE = "PrescriberLicensesChanged"
    licensed_states: tuple[str, ...]


@dataclass(frozen=True)
class Prescriber:
    id: str
    clinic_id: str
    name: str
    npi: str
    licensed_states: frozenset[str]
    dea_number: str | None = None


def evolve_prescriber(state: Prescriber | None, fact: Fact, aggregate_id: str) -> Prescriber:
    if isinstance(fact, PrescriberRegistered):
        return Prescriber(
            aggregate_id,
            fact.clinic_id,
            fact.name,
            fact.npi,
            frozenset(fact.licensed_states),
            fact.dea_number,
        )
    assert state is not None, f"{fact.TYPE} before PrescriberRegistered"
    if isinstance(fact, PrescriberLicensesChanged):
        return replace(state, licensed_states=frozenset(fact.licensed_states))
    return state


def npi_is_valid(npi: str) -> bool:
    """CMS's check digit: Luhn over the 9 digits prefixed with the card issuer code 80840."""
    if not re.fullmatch(r"\d{10}", npi):
        return False
    total = 24  # the Luhn contribution of the constant prefix 80840
    for i, ch in enumerate(reversed(npi[:9])):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10 == int(npi[9])


def states(codes: list[str] | tuple[str, ...], field_name: str) -> tuple[str, ...]:
    """US two-letter codes, upper-cased and de-duplicated; anything else names the field."""
    upper = tuple(dict.fromkeys(c.strip().upper() for c in codes))
    unknown = [c for c in upper if c not in US_STATES]
    if unknown:
        raise InvalidCommand(field=field_name, rule="NOT_US_STATES", facts={"codes": ", ".join(unknown)})
    return upper


def dea_is_valid(dea: str) -> bool:
    """DEA's check digit: two letters, six digits and a check digit over them."""
    if not re.fullmatch(r"[A-Z]{2}\d{7}", dea):
        return False
    d = [int(c) for c in dea[2:]]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


def register_prescriber(
    clinic_id: str, name: str, npi: str, licensed_states: list[str], dea_number: str | None = None
) -> PrescriberRegistered:
    if not npi_is_valid(npi):
        raise InvalidCommand(field="npi", rule="NPI_INVALID")
    if dea_number is not None and not dea_is_valid(dea_number):
        raise InvalidCommand(field="dea_number", rule="DEA_NUMBER_INVALID")
    return PrescriberRegistered(
        clinic_id=clinic_id,
        name=name,
        npi=npi,
        licensed_states=states(licensed_states, "licensed_states"),
        dea_number=dea_number,
    )
