"""A cart's validation problems in words, for the clinic's API answers and its console pages.

Validation (`domain.clinic.validation`) reports each problem as a code with the facts its words need
(names as the cart's world had them, the patient's state, vials left and needed, the SIG's missing
parts); this module says them. Keyed by the domain's `CODES`, so a new code without words fails
`tests/unit/test_error_words.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from api.error_words import sig_words
from domain.clinic.cart import LineProblem, ProblemFact

Facts = Mapping[str, ProblemFact]


def _inactive(f: Facts) -> str:
    # The catalog retired the product (its SKU), or the line's pharmacy no longer offers it.
    if "pharmacy" in f:
        return f"{f['pharmacy']} no longer offers this product."
    return f"{f['sku']} is no longer active in the catalog."


def _sig(f: Facts) -> str:
    missing = f.get("missing", [])
    return sig_words(missing if isinstance(missing, list) else [str(missing)], bool(f.get("as_directed")))


PROBLEM_WORDS: Mapping[str, str | Callable[[Facts], str]] = {
    "CART_EMPTY": "The cart has no lines.",
    "PATIENT_UNKNOWN": "The patient is not on this clinic's roster.",
    "PRODUCT_UNKNOWN": "No such product in the catalog.",
    "PRODUCT_INACTIVE": _inactive,
    "PHARMACY_UNKNOWN": "No such partner pharmacy.",
    "PRODUCT_NOT_AT_PHARMACY": "{pharmacy} does not compound this product.",
    "OUT_OF_STOCK": "{pharmacy} has {left} vial(s) of {strength} left for this line, which needs {needed}.",
    "PHARMACY_NOT_LICENSED_IN_STATE": "{pharmacy} may not ship to {state}.",
    "PRESCRIBER_UNKNOWN": "The prescriber is not one of this clinic's prescribers.",
    "PRESCRIBER_NOT_LICENSED_IN_STATE": (
        "{prescriber} (NPI {npi}) is not licensed in {state}, the patient's state."
    ),
    "PRESCRIBER_DEA_REQUIRED": "{strength} is a controlled product; {prescriber} has no DEA number on file.",
    "SIG_INCOMPLETE": _sig,
    "SIG_TOO_LONG": "SIG is {length} characters; at most {limit}.",
}


def problem_words(problem: LineProblem) -> str:
    """One problem in a sentence (a problem recorded before validation was typed keeps its own)."""
    if problem.detail is not None:
        return problem.detail
    words = PROBLEM_WORDS.get(problem.code)
    if words is None:
        return problem.code
    return words(problem.facts) if callable(words) else words.format(**problem.facts)
