"""The domain refuses in typed values and the API says them: no refusal in `domain/` carries words,
every rule and cart problem it can raise has words in `api/`, and old worded events still read."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from api.clinic.words import PROBLEM_WORDS, problem_words
from api.error_words import RULE_WORDS, detail_of
from domain.clinic.cart import CartValidated, LineProblem
from domain.clinic.validation import CODES
from domain.errors import Conflict, DomainError, InvalidCommand
from domain.events import load_fact

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
ERRORS = {"DomainError", "NotFound", "NotEligible", "Conflict", "InvalidCommand"}


def _refusals() -> list[tuple[str, ast.Call]]:
    """Every construction of a domain error in domain/ (and CartNotValid's call to its base)."""
    found = []
    for path in sorted(DOMAIN.rglob("*.py")):
        module = ".".join(path.relative_to(DOMAIN.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            named = isinstance(func, ast.Name) and func.id in ERRORS
            base = (
                isinstance(func, ast.Attribute) and func.attr == "__init__" and module.endswith("validation")
            )
            if named or base:
                found.append((module, node))
    return found


def _rule(module: str, call: ast.Call) -> str:
    keywords = {k.arg: k.value for k in call.keywords}
    if "rule" in keywords:
        return str(ast.literal_eval(keywords["rule"]))
    first = keywords["reasons"]
    assert isinstance(first, ast.Tuple)
    code = first.elts[0]
    if isinstance(code, ast.Name):  # a module constant
        return str(getattr(importlib.import_module(module.removesuffix(".__init__")), code.id))
    return str(ast.literal_eval(code))


def test_the_domain_refuses_in_codes_and_facts_and_the_api_has_words_for_each() -> None:
    refusals = _refusals()
    assert len(refusals) > 25
    for module, call in refusals:
        where = f"{module}:{call.lineno}"
        assert not call.args, f"{where} words a refusal; pass rule/reasons/facts and word it in api/"
        assert {"rule", "reasons"} & {k.arg for k in call.keywords}, f"{where} names no rule"
        assert _rule(module, call) in RULE_WORDS, f"{where}: no words for {_rule(module, call)}"


def test_every_cart_problem_code_has_words() -> None:
    assert set(CODES) == set(PROBLEM_WORDS)


def test_words_come_from_the_facts_and_a_service_s_own_words_stay() -> None:
    assert (
        detail_of(Conflict(reasons=("INVOICE_NOT_OPEN",), facts={"status": "VOID"})) == "The invoice is void."
    )
    refused = InvalidCommand(field="licensed_states", rule="NOT_US_STATES", facts={"codes": "ZZ, Q1"})
    assert detail_of(refused) == "Not US state codes: ZZ, Q1."
    assert str(refused) == "NOT_US_STATES (codes=ZZ, Q1)"  # logs and dead letters: exact, not worded
    assert (
        detail_of(Conflict("Said by the service.", reasons=("INVOICE_NOT_OPEN",))) == "Said by the service."
    )
    assert detail_of(DomainError(rule="NO_WORDS_YET", facts={"n": 1})) == "NO_WORDS_YET (n=1)"


@pytest.mark.parametrize(
    ("problem", "words"),
    [
        (
            LineProblem(line_id="L1", code="PRODUCT_INACTIVE", facts={"sku": "SEMA"}),
            "SEMA is no longer active in the catalog.",
        ),
        (
            LineProblem(line_id="L1", code="PRODUCT_INACTIVE", facts={"pharmacy": "Belmar"}),
            "Belmar no longer offers this product.",
        ),
        (
            LineProblem(line_id="L1", code="SIG_INCOMPLETE", facts={"missing": ["route"], "as_directed": 0}),
            "SIG is missing: route.",
        ),
    ],
)
def test_a_cart_problem_is_worded_from_its_facts(problem: LineProblem, words: str) -> None:
    assert problem_words(problem) == words


def test_a_validation_recorded_with_words_reads_back_with_them() -> None:
    stored = {
        "ok": False,
        "problems": [{"line_id": "L1", "code": "OUT_OF_STOCK", "detail": "Belmar has 0 vial(s) left."}],
        "line_count": 1,
        "total_cents": 100,
    }
    fact = load_fact("CartValidated", 1, stored)
    assert isinstance(fact, CartValidated)
    (problem,) = fact.problems
    assert (problem.code, problem.facts, problem_words(problem)) == (
        "OUT_OF_STOCK",
        {},
        "Belmar has 0 vial(s) left.",
    )
