"""The X-Signature scheme shared by Beluga and pharmacy webhooks."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.webhook_signature import InvalidSignature, sign, verify

SECRET = "whsec_test"
BODY = b'{"event":"RX_WRITTEN","masterId":"m-1"}'
NOW = 1_700_000_000


def test_header_is_hmac_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"


def test_round_trip_within_tolerance() -> None:
    header = sign(SECRET, BODY, NOW)
    verify(SECRET, header, BODY, now=NOW)
    verify(SECRET, header, BODY, now=NOW + 300)
    verify(SECRET, header, BODY, now=NOW - 300)


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header(header: str | None) -> None:
    with pytest.raises(InvalidSignature) as err:
        verify(SECRET, header, BODY, now=NOW)
    assert err.value.reason == "missing_header"


@pytest.mark.parametrize(
    "header",
    ["garbage", "t=abc,v1=00", f"t={NOW}", "v1=00", f"t={NOW},v1=", "t=-5,v1=00", f"t={NOW},t={NOW},v1=00"],
)
def test_malformed_header(header: str) -> None:
    with pytest.raises(InvalidSignature) as err:
        verify(SECRET, header, BODY, now=NOW)
    assert err.value.reason == "malformed_header"


@pytest.mark.parametrize("now", [NOW + 301, NOW - 301])
def test_stale_or_future_timestamp(now: int) -> None:
    with pytest.raises(InvalidSignature) as err:
        verify(SECRET, sign(SECRET, BODY, NOW), BODY, now=now)
    assert err.value.reason == "timestamp_out_of_tolerance"


def test_wrong_secret_mismatches() -> None:
    with pytest.raises(InvalidSignature) as err:
        verify("other", sign(SECRET, BODY, NOW), BODY, now=NOW)
    assert err.value.reason == "signature_mismatch"


def test_replayed_signature_with_new_timestamp_mismatches() -> None:
    v1 = sign(SECRET, BODY, NOW).split("v1=")[1]
    with pytest.raises(InvalidSignature) as err:
        verify(SECRET, f"t={NOW + 10},v1={v1}", BODY, now=NOW + 10)
    assert err.value.reason == "signature_mismatch"


def test_non_ascii_signature_is_a_mismatch_not_a_crash() -> None:
    with pytest.raises(InvalidSignature):
        verify(SECRET, f"t={NOW},v1=é", BODY, now=NOW)


def test_extra_v1_for_secret_rotation_is_accepted() -> None:
    header = sign(SECRET, BODY, NOW) + ",v1=deadbeef"
    verify(SECRET, header, BODY, now=NOW)


@given(body=st.binary(max_size=256), data=st.data())
def test_any_change_to_the_body_breaks_the_signature(body: bytes, data: st.DataObject) -> None:
    header = sign(SECRET, body, NOW)
    verify(SECRET, header, body, now=NOW)
    changed = data.draw(st.binary(max_size=256).filter(lambda b: b != body), label="changed")
    with pytest.raises(InvalidSignature) as err:
        verify(SECRET, header, changed, now=NOW)
    assert err.value.reason == "signature_mismatch"


@given(body=st.binary(min_size=1, max_size=256), index=st.integers(min_value=0), bit=st.integers(0, 7))
def test_flipping_any_bit_breaks_the_signature(body: bytes, index: int, bit: int) -> None:
    index %= len(body)
    tampered = bytearray(body)
    tampered[index] ^= 1 << bit
    with pytest.raises(InvalidSignature):
        verify(SECRET, sign(SECRET, body, NOW), bytes(tampered), now=NOW)
