"""Meta's normalization and hashing, checked against Meta's own vectors, the reference's, and the official
`facebook_business` SDK as an oracle wherever the SDK follows Meta's rules; each deviation is pinned."""

import hashlib

import phonenumbers
import pytest
from facebook_capi import hashing
from hypothesis import given
from hypothesis import strategies as st

normalize = pytest.importorskip("facebook_business.adobjects.serverside.normalize")
Normalize = normalize.Normalize
UserData = pytest.importorskip("facebook_business.adobjects.serverside.user_data").UserData


def sdk_hash(field: str, value: str) -> str:
    return Normalize.normalize_field(field, value)


@pytest.mark.parametrize(
    ("plain", "digest"),
    [
        ("5511987654321", "029c7290f14c4516673508635f0519db95f7daf42057fd0e4ad1de84c5408a66"),
        ("br", "885036a0da3dff3c3e05bc79bf49382b12bc5098514ed57ce0875aba1aa2c40d"),
        ("lead-000123", "eefd982ec5ce06775f5935acd18116bad7474bb6e1d0aca655a59698e0d10b27"),
        ("16505551212", "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"),  # Meta's own
    ],
)
def test_sha256_matches_the_reference_vectors(plain: str, digest: str) -> None:
    assert hashing.sha256_hex(plain) == digest


@pytest.mark.parametrize(
    ("raw", "digest"),
    [
        ("+55 (11) 98765-4321", "029c7290f14c4516673508635f0519db95f7daf42057fd0e4ad1de84c5408a66"),
        ("(11) 98765-4321", "029c7290f14c4516673508635f0519db95f7daf42057fd0e4ad1de84c5408a66"),
        ("5511987654321", "029c7290f14c4516673508635f0519db95f7daf42057fd0e4ad1de84c5408a66"),
        ("+1 650-555-1212", "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"),
    ],
)
def test_phone_is_hashed_as_digits_with_country_code(raw: str, digest: str) -> None:
    assert hashing.hashed_phone(raw, region="BR") == digest


def test_phone_in_international_form_hashes_like_the_sdk() -> None:
    assert hashing.hashed_phone("+55 (11) 98765-4321") == sdk_hash("ph", "+55 (11) 98765-4321")


def test_deviation_national_phone_gets_the_country_code_the_sdk_leaves_out() -> None:
    # The SDK hashes `11987654321` (no country code), which Meta's rules say will not match anyone.
    assert sdk_hash("ph", "(11) 98765-4321") == hashing.sha256_hex("11987654321")
    assert hashing.hashed_phone("(11) 98765-4321", region="BR") == hashing.sha256_hex("5511987654321")


def test_deviation_dotted_phone_is_accepted_where_the_sdk_refuses_it() -> None:
    with pytest.raises((ValueError, TypeError)):
        sdk_hash("ph", "11.98765.4321")
    assert hashing.normalize_phone("11.98765.4321", region="BR") == "5511987654321"


@pytest.mark.parametrize("raw", ["", "abc", "123", "+55 11", "55119876543219999999"])
def test_what_is_not_a_phone_number_is_dropped(raw: str) -> None:
    assert hashing.hashed_phone(raw) is None


@pytest.mark.parametrize("raw", ["BR", "br", " Br ", "b.r"])
def test_country_hashes_like_the_sdk(raw: str) -> None:
    assert hashing.hashed_country(raw) == sdk_hash("country", raw)


def test_unknown_country_is_dropped() -> None:
    assert hashing.hashed_country("XX") is None


def test_deviation_external_id_is_hashed_where_the_sdk_sends_it_in_clear() -> None:
    assert UserData(external_ids=["lead-000123"]).normalize()["external_id"] == ["lead-000123"]
    # Trimmed, case kept (the same id a pixel would send), then hashed.
    assert hashing.hashed_external_id(" lead_01J8Z0P3 ") == hashing.sha256_hex("lead_01J8Z0P3")
    assert hashing.hashed_external_id("lead-000123") == (
        "eefd982ec5ce06775f5935acd18116bad7474bb6e1d0aca655a59698e0d10b27"
    )


def test_an_existing_sha256_digest_is_not_hashed_twice_as_in_the_sdk() -> None:
    digest = hashing.sha256_hex("5511987654321")
    assert hashing.hashed_phone(digest) == digest == sdk_hash("ph", digest)
    assert hashing.hashed_external_id(digest) == digest


def test_user_data_of_the_sdk_agrees_on_phone_and_country() -> None:
    sdk = UserData(phones=["+55 11 98765 4321"], country_codes=["BR"]).normalize()
    assert sdk["ph"] == [hashing.hashed_phone("+55 11 98765 4321")]
    assert sdk["country"] == [hashing.hashed_country("BR")]


# -- property: every way people write a Brazilian mobile number ---------------------------------------------

ddds = st.sampled_from(["11", "21", "31", "41", "47", "51", "55", "61", "71", "81", "85", "91", "98"])
subscribers = st.integers(min_value=0, max_value=99_999_999).map(lambda n: f"9{n:08d}")


def _formats(ddd: str, number: str) -> list[str]:
    head, tail = number[:5], number[5:]
    return [
        f"({ddd}) {head}-{tail}",
        f"+55 {ddd} {number[0]} {number[1:5]} {number[5:]}",
        f"55{ddd}{number}",
        f"+55{ddd}{number}",
        f"+55 ({ddd}) {head}-{tail}",
        f"{ddd} {head} {tail}",
        f"0{ddd} {head}-{tail}",
        f"{ddd}.{head}.{tail}",
        f" {ddd}{number} ",
    ]


@given(ddd=ddds, number=subscribers, index=st.integers(min_value=0, max_value=8))
def test_every_format_of_one_number_hashes_the_same(ddd: str, number: str, index: int) -> None:
    raw = _formats(ddd, number)[index]
    expected = f"55{ddd}{number}"
    assert hashing.normalize_phone(raw, region="BR") == expected
    assert hashing.hashed_phone(raw, region="BR") == hashlib.sha256(expected.encode()).hexdigest()
    # The SDK, given the international form, agrees with us.
    assert hashing.hashed_phone(raw, region="BR") == sdk_hash("ph", f"+55 ({ddd}) {number[:5]}-{number[5:]}")


@given(raw=st.text(alphabet="0123456789 +-().", max_size=24))
def test_phone_normalization_is_idempotent_and_digits_only(raw: str) -> None:
    digits = hashing.normalize_phone(raw, region="BR")
    if digits is None:
        return
    assert digits.isdigit() and not digits.startswith("0")
    assert hashing.normalize_phone(f"+{digits}", region="BR") == digits
    national = phonenumbers.parse(digits, "BR")
    if phonenumbers.is_valid_number(phonenumbers.parse(f"+{digits}")) and not phonenumbers.is_valid_number(
        national
    ):
        # Bare digits read back as the same international number, unless they are also a valid Brazilian
        # national number (`5530000000`: DDD 55, or +55 3000-0000?), where the region's reading wins.
        assert hashing.normalize_phone(digits, region="BR") == digits


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("431110", "431110"),  # a valid Austrian number given without its +: not an impossible Brazilian one
        ("+43000000", None),  # phonenumbers would give 4300000, which reads back as 430000: not a stable form
        ("(11) 99999-9999", "5511999999999"),
        ("5530000000", "555530000000"),  # valid in Brazil as it is: the region's reading wins
    ],
)
def test_ambiguous_and_unstable_numbers(raw: str, expected: str | None) -> None:
    assert hashing.normalize_phone(raw, region="BR") == expected
