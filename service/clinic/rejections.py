"""The clinic's two ways out of a paid line its pharmacy rejected (`domain.clinic.rejections`):
fix and resubmit it (the one resubmission use case, `service.resubmission`), or refund that line
alone (a partial refund of the cart's invoice through the gateway that took it, recorded on the
order and on the invoice). Either is refused while the line is not a rejected paid line.
"""

from __future__ import annotations

from domain.clinic.directory import Prescriber
from domain.clinic.rejections import RejectedPaidClinicLine, rejected_paid_line
from domain.clinic.sig import check_sig
from domain.errors import Conflict, InvalidCommand, NotFound
from domain.orders import Order, OrderLineCorrected
from domain.parties import Patient
from service.clinic import stock
from service.clinic.directory import clinic_of
from service.clinic.reads import clinic_order
from service.deps import Deps, retry_on_conflict
from service.orders import get_order, refund_order
from service.resubmission import resubmit_to_pharmacy
from service.unit import Context, load_owned, try_load


def _rejected(deps: Deps, ctx: Context, user_id: str, order_id: str) -> tuple[Order, RejectedPaidClinicLine]:
    order = clinic_order(deps, ctx, user_id, get_order(deps, ctx, order_id))
    found = rejected_paid_line(order)
    if found is None:
        raise Conflict(
            "Only a paid line its pharmacy rejected can be resubmitted or refunded here.",
            reasons=("NOT_A_REJECTED_PAID_LINE",),
        )
    return order, found


def refund_rejected_line(deps: Deps, ctx: Context, user_id: str, order_id: str, reason: str) -> Order:
    _rejected(deps, ctx, user_id, order_id)
    return refund_order(deps, ctx, order_id, reason)


def resubmit_rejected_line(
    deps: Deps,
    ctx: Context,
    user_id: str,
    order_id: str,
    reason: str,
    configured_partners: frozenset[str],
    *,
    sig: str | None = None,
    prescriber_id: str | None = None,
) -> Order:
    """Record the clinic's fix (a new SIG, another prescriber) if any, then resubmit."""
    order, _ = _rejected(deps, ctx, user_id, order_id)
    if sig is not None or prescriber_id is not None:
        _check_fix(deps, ctx, user_id, order, sig, prescriber_id)

        def correct() -> None:
            loaded = load_owned(deps.store, ctx, Order, order_id)
            fix = OrderLineCorrected(
                product_id=order.placed.lines[0].product_id, sig=sig, prescriber_id=prescriber_id
            )
            batch = deps.batch(ctx)
            batch.extend(loaded, fix)
            deps.commit(batch)

        retry_on_conflict(correct)
    # The rejection gave the vials back: take them again first, so a resubmission never oversells.
    stock.reserve_again(deps, ctx, order)
    try:
        return resubmit_to_pharmacy(deps, ctx, order_id, reason, configured_partners)
    except Exception:
        stock.release(deps, ctx, order, "resubmission refused")
        raise


def _check_fix(
    deps: Deps, ctx: Context, user_id: str, order: Order, sig: str | None, prescriber_id: str | None
) -> None:
    if sig is not None:
        checked = check_sig(sig)
        if not checked.complete or checked.too_long:
            raise InvalidCommand(
                field="sig",
                reasons=("SIG_INCOMPLETE",),
                facts={"missing": checked.missing, "as_directed": int(checked.as_directed)},
            )
    if prescriber_id is None:
        return
    clinic = clinic_of(deps, ctx, user_id)
    found = try_load(deps.store, Prescriber, prescriber_id)
    prescriber = found.state if found is not None and found.organization_id == ctx.organization_id else None
    if not isinstance(prescriber, Prescriber) or prescriber.clinic_id != clinic.id:
        raise NotFound("No such prescriber.")
    patient = load_owned(deps.store, ctx, Patient, order.patient_id).state
    if patient.state not in prescriber.licensed_states:
        raise InvalidCommand(
            f"{prescriber.name} is not licensed in {patient.state}, the patient's state.",
            field="prescriber_id",
            reasons=("PRESCRIBER_NOT_LICENSED_IN_STATE",),
        )
