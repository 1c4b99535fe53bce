"""SIG completeness: what a pharmacist needs to compound and label, in the clinic's own words."""

from __future__ import annotations

import pytest

from api.error_words import sig_words
from domain.clinic.sig import check_sig


@pytest.mark.parametrize(
    "sig",
    [
        "Inject 10 units subcutaneously once weekly",
        "Inject 0.25mg SC weekly",
        "Take 1 tablet by mouth every 8 hours as needed for nausea",
        "Apply 1 pump topically daily",
        "Place 1 troche under the tongue at bedtime",
        "Inject 0.5 mL intramuscularly every 7 days",
    ],
)
def test_complete_sigs_pass(sig: str) -> None:
    assert check_sig(sig).complete


@pytest.mark.parametrize(
    ("sig", "missing"),
    [
        ("Use as directed", ("dose", "dose_unit", "route", "frequency")),
        ("Take by mouth every 12 hours", ("dose", "dose_unit")),  # the 12 is a frequency, not a dose
        ("Inject 10 units once weekly", ("route",)),
        ("Take 1 tablet by mouth every 8 hours as needed", ("indication",)),
        ("Take 1 tab po bid for 30 days prn", ("indication",)),  # "for 30 days" is a duration
        ("", ("action", "dose", "dose_unit", "route", "frequency")),
    ],
)
def test_incomplete_sigs_name_what_is_missing(sig: str, missing: tuple[str, ...]) -> None:
    assert check_sig(sig).missing == missing


def test_as_directed_is_called_out_in_the_explanation() -> None:
    checked = check_sig("Inject as directed")
    assert checked.as_directed and not check_sig("Inject 10 units subcutaneously once weekly").as_directed
    words = sig_words(checked.missing, checked.as_directed)  # the API's words for it
    assert words == 'SIG is missing: dose, dose unit, route, frequency ("as directed" is not a direction).'


def test_length_limit_is_140_characters() -> None:
    base = "Inject 10 units subcutaneously once weekly "
    assert not check_sig(base.ljust(140, "x")).too_long
    assert check_sig(base.ljust(141, "x")).too_long
