"""Test-only crash points: `LEDGER_TEST_CRASH_AT=<name>` SIGKILLs this process when it reaches `<name>`.

The crash tests (tests/crash/) start the server or the worker with this variable set, so the kill
lands exactly between two steps (after a commit, before the next call), then restart without it.
Unset in every real deployment, a crash point is one environment lookup.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "LEDGER_TEST_CRASH_AT"

AFTER_REFILL_BATCH = "after_refill_batch"  # refill, order, invoice and attempt committed; no charge yet
AFTER_CHECKOUT_BATCH = "after_checkout_batch"  # clinic orders, invoice and attempt committed
AFTER_CHARGE_REQUEST = "after_charge_request"  # re-driven attempt committed; gateway not called yet
AFTER_CHARGE = "after_charge"  # the gateway answered; its outcome is not recorded
AFTER_RELEASE = "after_release"  # FulfillmentReleased committed; the submitter has not run
AFTER_PHARMACY_CALL = "after_pharmacy_call"  # the pharmacy answered; the submission is not recorded
POINTS = (
    AFTER_REFILL_BATCH,
    AFTER_CHECKOUT_BATCH,
    AFTER_CHARGE_REQUEST,
    AFTER_CHARGE,
    AFTER_RELEASE,
    AFTER_PHARMACY_CALL,
)


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
