"""SIG (directions for use) completeness: the top cause of pharmacy rejections, caught before paying.

A complete SIG names an action, a dose, a dose unit, a route and a frequency ("Inject 10 units
subcutaneously once weekly"); "as needed" also needs an indication ("… as needed for nausea").
"As directed" tells the pharmacist nothing, so it counts as none of the parts. The check is lexical
on purpose: it must run on hundreds of lines in a few milliseconds and say exactly which parts are
missing (the API words them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SIG_LENGTH = 140
PARTS = ("action", "dose", "dose_unit", "route", "frequency")

_I = re.IGNORECASE
_ACTION = re.compile(
    r"\b(take|inject|apply|instill|inhale|insert|use|place|dissolve|chew|spray|administer|"
    r"give|rub|swallow|reconstitute)\b",
    _I,
)
_NUMBER = r"\d+(?:\.\d+)?"
# Frequency and route are removed before looking for a dose, so "every 8 hours" is not a dose of 8.
_FREQUENCY = re.compile(
    r"\b(?:(?:once|twice|three times|four times|[1-4] ?(?:x|times))\s+(?:a |an |per |each |every )?"
    r"(?:daily|day|weekly|week|monthly|month|nightly|night)"
    rf"|every\s+(?:other\s+)?(?:{_NUMBER}(?:\s*(?:-|to)\s*{_NUMBER})?\s+)?"
    r"(?:hours?|hrs?|days?|weeks?|months?|morning|evening|night)"
    r"|daily|nightly|weekly|monthly|bid|tid|qid|qd|qhs|qam|qpm|qod|qw|q\d+h|at bedtime"
    r"|in the (?:morning|evening)|once)\b",
    _I,
)
_ROUTE = re.compile(
    r"\b(?:by mouth|orally|oral|po|sublingual(?:ly)?|under the tongue|subcutaneous(?:ly)?|subq|sub-q|sc|sq"
    r"|intramuscular(?:ly)?|im|topical(?:ly)?|to (?:the )?(?:affected )?(?:area|skin)|transdermal(?:ly)?"
    r"|intranasal(?:ly)?|in(?:to)? (?:each|one|the|both) nostrils?|nasally|vaginal(?:ly)?|rectal(?:ly)?"
    r"|in(?:to)? (?:the |each |both |left |right )?eyes?|ophthalmic|buccal(?:ly)?)\b",
    _I,
)
_DOSE = re.compile(
    rf"(?<![\w.])(?:{_NUMBER}(?:\s*(?:-|to)\s*{_NUMBER})?|\d+/\d+)|"
    r"\b(?:one|two|three|four|five|half|one-half)\b",
    _I,
)
_UNIT = re.compile(
    r"(?<![a-z])(?:mg|mcg|g|grams?|ml|cc|units?|iu|tablets?|tabs?|capsules?|caps?|drops?|puffs?|sprays?"
    r"|clicks?|pumps?|applications?|applicatorfuls?|patch(?:es)?|troches?|lozenges?|syringes?|vials?"
    r"|sachets?|suppositor(?:y|ies))\b",
    _I,
)
_PRN = re.compile(r"\b(?:as needed|prn|as required)\b", _I)
# "for nausea" is an indication; "for 30 days" / "for one week" is a duration.
_INDICATION = re.compile(
    r"\b(?:for|to treat|to prevent)\s+(?!\d)(?!(?:a|one|two|three)\s+(?:days?|weeks?"
    r"|months?)\b)[a-z]",
    _I,
)
_AS_DIRECTED = re.compile(r"\bas directed\b", _I)


@dataclass(frozen=True)
class SigCheck:
    missing: tuple[str, ...]  # in PARTS order, then "indication"
    too_long: bool
    as_directed: bool

    @property
    def complete(self) -> bool:
        return not self.missing


def check_sig(sig: str) -> SigCheck:
    text = " ".join(sig.split())
    found = {"action": bool(_ACTION.search(text))}
    found["frequency"] = bool(_FREQUENCY.search(text))
    found["route"] = bool(_ROUTE.search(text))
    rest = _ROUTE.sub(" ", _FREQUENCY.sub(" ", text))
    found["dose"] = bool(_DOSE.search(rest))
    found["dose_unit"] = bool(_UNIT.search(rest))
    missing = [part for part in PARTS if not found[part]]
    if _PRN.search(text) and not _INDICATION.search(text):
        missing.append("indication")
    return SigCheck(tuple(missing), len(sig) > MAX_SIG_LENGTH, bool(_AS_DIRECTED.search(text)))
