"""SKU claims, decided on folded state (given / when / then): one holder per SKU key, released by a
change, re-spelt by its holder; and the key two SKUs are compared by."""

from __future__ import annotations

from domain.catalog import (
    ProductAdded,
    ProductSkuChanged,
    SkuClaim,
    SkuClaimed,
    SkuReleased,
    SkuTaken,
    change_product,
    claim_sku,
    held_before_claims,
    release_sku,
    sku_key,
)
from tests.unit.given import given, product


def claim(*facts: SkuClaimed | SkuReleased) -> SkuClaim:
    return given("sku_claim", "c1", *facts)  # type: ignore[no-any-return]


def test_a_sku_nobody_holds_is_claimed() -> None:
    assert claim_sku(None, product_id="p1", sku="SEMA") == [SkuClaimed(sku="SEMA", product_id="p1")]
    released = claim(SkuClaimed(sku="SEMA", product_id="p1"), SkuReleased(product_id="p1"))
    assert released.product_id is None
    assert claim_sku(released, product_id="p2", sku="sema") == [SkuClaimed(sku="sema", product_id="p2")]


def test_a_sku_another_product_holds_is_taken() -> None:
    held = claim(SkuClaimed(sku="SEMA", product_id="p1"))
    assert claim_sku(held, product_id="p2", sku="sema") == SkuTaken(sku="SEMA", holder_id="p1")


def test_the_holder_may_re_spell_its_own_sku() -> None:
    held = claim(SkuClaimed(sku="SEMA", product_id="p1"))
    assert claim_sku(held, product_id="p1", sku="SEMA") == []
    assert claim_sku(held, product_id="p1", sku="Sema") == [SkuClaimed(sku="Sema", product_id="p1")]


def test_only_the_holder_releases() -> None:
    held = claim(SkuClaimed(sku="SEMA", product_id="p1"))
    assert release_sku(held, product_id="p1") == [SkuReleased(product_id="p1")]
    assert release_sku(held, product_id="p2") == []
    assert release_sku(None, product_id="p1") == []  # a product older than claims holds none


def test_a_sku_change_is_recorded_only_when_the_spelling_changes() -> None:
    p = product(sku="SEMA")
    assert change_product(p, sku="SEMA") == []
    assert change_product(p, sku="SEMA-2.5") == [ProductSkuChanged(sku="SEMA-2.5", previous_sku="SEMA")]
    added = ProductAdded(
        sku="SEMA", name="S", price_cents=1, currency="usd", active=True, kind="non_rx", requires_intake=False
    )
    changed = given("product", "p1", added, ProductSkuChanged(sku="SEMA-2.5", previous_sku="SEMA"))
    assert changed.sku == "SEMA-2.5"


def test_the_key_folds_case_width_and_whitespace_and_nothing_else() -> None:
    assert sku_key("  Sema   2.5\t") == sku_key("sema 2.5") == "sema 2.5"
    assert sku_key("ＳＥＭＡ－２．５") == "sema-2.5"  # noqa: RUF001 - full-width on purpose
    assert len({sku_key("SEMA-2.5"), sku_key("SEMA 2.5"), sku_key("SEMA2.5")}) == 3


def test_a_product_from_before_claims_holds_its_sku_by_key_but_not_against_itself() -> None:
    skus = {"old": "Sema  25", "other": "TIRZ"}
    assert held_before_claims(skus, product_id="new", sku="sema 25") == SkuTaken(
        sku="Sema  25", holder_id="old"
    )
    assert held_before_claims(skus, product_id="old", sku="SEMA 25") is None
    assert held_before_claims(skus, product_id="new", sku="SEMA-25") is None
