"""Request and response bodies of the HTTP contract (API.md). Requests forbid unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from adapters.payments.currencies import GATEWAY_CURRENCIES

# Bidirectional controls (U+202A to U+202E, U+2066 to U+2069, the marks U+200E/U+200F/U+061C) make a
# name display differently from what it is ("Trojan Source"): refused wherever a name is typed.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def _no_bidi(value: str) -> str:
    if any(ch in BIDI_CONTROLS for ch in value):
        raise ValueError("must not contain bidirectional control characters")
    return value


Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_no_bidi)
]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Cents = Annotated[int, Field(ge=0, le=100_000_000)]


def _gateway_currency(value: str) -> str:
    if value not in GATEWAY_CURRENCIES:
        raise ValueError("must be a lower-case ISO 4217 currency the payment gateway supports")
    return value


Currency = Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$"), AfterValidator(_gateway_currency)]
StateCode = Literal[
    "AL",
    "AK",
    "AZ",
    "AR",
    "CA",
    "CO",
    "CT",
    "DE",
    "DC",
    "FL",
    "GA",
    "HI",
    "ID",
    "IL",
    "IN",
    "IA",
    "KS",
    "KY",
    "LA",
    "ME",
    "MD",
    "MA",
    "MI",
    "MN",
    "MS",
    "MO",
    "MT",
    "NE",
    "NV",
    "NH",
    "NJ",
    "NM",
    "NY",
    "NC",
    "ND",
    "OH",
    "OK",
    "OR",
    "PA",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VT",
    "VA",
    "WA",
    "WV",
    "WI",
    "WY",
    "PR",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MedicalReviewIn(Strict):
    visit_type: Text | None = None
    med_id: Text | None = None


class PharmacyIn(Strict):
    partner: Text | None = None
    product_code: Text | None = None


class LabIn(Strict):
    steps: list[Literal["requisition", "results"]] = ["requisition", "results"]
    method: Text | None = None


_SKU = (
    "Unique within the organization. SKUs are compared ignoring case and spacing (Unicode NFKC, case "
    "folded, surrounding whitespace trimmed, each inner run of whitespace read as one space), so "
    "`sema-2.5` and ` SEMA-2.5 ` are one SKU. A SKU that another product of the organization has, "
    "active or not, is refused with 409 `SKU_TAKEN` naming the field `sku`; another organization may "
    "use the same SKU. Kept as written, trimmed."
)


class ProductIn(Strict):
    sku: Annotated[Text, Field(description=_SKU)]
    name: Text
    price_cents: Cents
    currency: Currency = "usd"
    active: bool = True
    kind: Literal["medication", "lab", "non_rx"]
    requires_intake: bool = False
    medical_review: MedicalReviewIn | None = None
    pharmacy: PharmacyIn | None = None
    lab: LabIn | None = None


_MERGE = (
    "A JSON merge patch (RFC 7396) of this mapping: keys given replace the current ones, a key set to "
    "null is cleared, keys left out keep their value. The whole mapping set to null removes it."
)


class ProductPatch(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    sku: Annotated[
        Text | None,
        Field(description=_SKU + " A change releases the old SKU for other products to take."),
    ] = None
    price_cents: Cents | None = None
    active: bool | None = None
    requires_intake: bool | None = None
    medical_review: Annotated[MedicalReviewIn | None, Field(description=_MERGE)] = None
    pharmacy: Annotated[PharmacyIn | None, Field(description=_MERGE)] = None
    lab: Annotated[LabIn | None, Field(description=_MERGE)] = None


class ProductOut(BaseModel):
    id: str
    sku: str
    name: str
    price_cents: int
    currency: str
    active: bool
    kind: str
    requires_intake: bool
    medical_review: MedicalReviewIn | None
    pharmacy: PharmacyIn | None
    lab: LabIn | None


class PatientIn(Strict):
    name: Text
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,24}$")]
    state: StateCode


class PaymentMethodIn(Strict):
    gateway: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")]
    token: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    label: Text | None = None


class PaymentMethodOut(BaseModel):
    id: str
    gateway: str
    label: str | None
    brand: str | None
    last4: str | None


class PatientOut(BaseModel):
    id: str
    name: str
    email: str
    state: str
    payment_methods: list[PaymentMethodOut]


class OrderLineIn(Strict):
    product_id: Id
    quantity: Annotated[int, Field(ge=1, le=1000)]


class OrderIn(Strict):
    patient_id: Id
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _one_line_per_product(self) -> OrderIn:
        seen: set[str] = set()
        for line in self.lines:
            if line.product_id in seen:
                raise ValueError(f"product {line.product_id} appears twice: one line per product")
            seen.add(line.product_id)
        return self


class ReasonIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class PaymentIn(Strict):
    payment_method_id: Id


class RefillIn(Strict):
    product_id: Id
    payment_method_id: Id


class SubscriptionIn(Strict):
    patient_id: Id
    product_id: Id
    payment_method_id: Id
    interval_days: Annotated[int, Field(ge=1, le=366)] = 30


class CycleIn(Strict):
    cycle_number: Annotated[int, Field(ge=1, le=10_000)] | None = None


class PaymentOut(BaseModel):
    attempt: int
    status: Literal["pending", "succeeded", "failed"]
    # Null when a patient reads a clinic-paid invoice: the card and gateway are the clinic's.
    gateway: str | None
    payment_method_id: str | None
    decline_code: str | None
    gateway_error: str | None
    reference: str | None
    attempted_at: datetime


class InvoiceOut(BaseModel):
    id: str
    status: Literal["OPEN", "PAID", "VOID", "REFUNDED"]
    amount_cents: int
    currency: str
    order_ids: list[str]
    paid_at: datetime | None
    payments: list[PaymentOut]


class OrderLineOut(BaseModel):
    product_id: str
    sku: str
    name: str
    kind: str
    quantity: int
    unit_price_cents: int


class IntakeOut(BaseModel):
    required: bool
    status: str


class MedicalReviewOut(BaseModel):
    required: bool
    status: str
    master_id: str | None
    blocked_reasons: list[str]
    error: str | None
    prescribed_med_ids: list[str]


class FulfillmentOut(BaseModel):
    status: str
    partner: str | None
    external_id: str | None
    carrier: str | None
    tracking: str | None
    held_by: list[str]
    error: str | None
    rejected_reason: str | None = None  # the pharmacy's own words when it rejected the order
    attempt: int = 1  # the pharmacy submission attempt (a resubmission opens the next)


class OrderKindOut(BaseModel):
    code: str  # the order's source_context
    label: str  # e.g. "Refill of order R-1001", "Subscription renewal — cycle 3"
    explanation: str


class OrderOut(BaseModel):
    id: str
    number: str
    status: str
    status_explanation: str
    kind: OrderKindOut
    patient_id: str
    lines: list[OrderLineOut]
    currency: str
    total_cents: int
    invoice: InvoiceOut
    source: str
    source_context: str
    refill_of_order_id: str | None
    refill_of_order_number: str | None
    refill_product_id: str | None
    refill_original_quantity: int | None
    subscription_id: str | None
    cycle_number: int | None
    placed_at: datetime
    charged_at: datetime | None
    intake: IntakeOut
    medical_review: MedicalReviewOut
    fulfillment: FulfillmentOut


class PlacedOrderOut(BaseModel):
    order: OrderOut
    invoice: InvoiceOut


class PaymentReply(BaseModel):
    invoice: InvoiceOut
    payment: PaymentOut


class RefillInProgressOut(BaseModel):
    refill_id: str
    refill_order_id: str
    refill_order_number: str
    status: str
    paid: bool


class RefillProductOut(BaseModel):
    product_id: str
    name: str
    unit_price_cents: int
    original_quantity: int
    total_today_cents: int  # what a refill of this product charges today: quantity 1
    in_progress: RefillInProgressOut | None = Field(
        default=None, description="An earlier refill of this product still open (REFILL_IN_PROGRESS)"
    )


class RefillBlock(BaseModel):
    eligible: bool
    reasons: list[str]
    products: list[RefillProductOut]
    payment_methods: list[PaymentMethodOut]
    total_today_cents: int = Field(description="For the pre-selected product; each product has its own")


class PatientOrderOut(OrderOut):
    refill: RefillBlock


class PatientOrdersOut(BaseModel):
    patient_id: str
    orders: list[PatientOrderOut]


class RefillOut(BaseModel):
    id: str
    original_order_id: str
    original_order_number: str
    product_id: str
    charge: str


class RefillReply(BaseModel):
    refill: RefillOut
    refill_order: OrderOut
    invoice: InvoiceOut
    payment: PaymentOut | None
    created: bool
    in_progress: bool = Field(
        default=False, description="An earlier refill of this product was returned (REFILL_IN_PROGRESS)"
    )
    message: str | None = Field(default=None, description="Said to the patient when nothing new was bought")


class DunningAttemptOut(BaseModel):
    retry: int  # 0: the cycle's own charge; n: the n-th retry
    attempt: int  # the invoice's payment attempt number
    decline_code: str | None
    gateway_message: str
    hard_decline: bool  # lost/stolen card, no such card: not retried
    declined_at: datetime
    next_retry_at: datetime | None


class DunningOut(BaseModel):
    state: Literal["RETRYING", "PAST_DUE"]
    cycle_number: int
    invoice_id: str
    next_retry_at: datetime | None
    attempts: list[DunningAttemptOut]
    explanation: str


class SubscriptionOut(BaseModel):
    id: str
    patient_id: str
    product_id: str
    payment_method_id: str  # the card cycles and retries charge now
    interval_days: int
    state: Literal["ACTIVE", "PAUSED", "PAST_DUE", "CANCELED"]
    starts_at: datetime | None  # cycle k is due at starts_at + k * interval_days
    next_cycle_number: int
    next_cycle_at: datetime | None
    cycles: dict[str, str]  # cycle number -> order id
    not_billed: dict[str, str]  # cycle number -> PAUSED / SKIPPED / PAST_DUE
    skip_requested: list[int]
    dunning: DunningOut | None
    explanation: str  # renewal or refill, in words


class SubscriptionMethodIn(Strict):
    payment_method_id: Id


class SubscriptionCancelIn(Strict):
    reason: Annotated[str, Field(min_length=1, max_length=500)] = "requested"


class CycleReply(BaseModel):
    subscription: SubscriptionOut
    order: OrderOut
    invoice: InvoiceOut
    payment: PaymentOut | None
    created: bool


class Created(BaseModel):
    id: str
