"""Meta's normalization and SHA-256 hashing of `user_data` (reference §3), for the keys we send.

Where the official Python SDK (`facebook_business`, reference §6) deviates from Meta's written rules we follow
Meta, on purpose, and `tests/test_hashing.py` pins each choice against the SDK:

- phone: Meta wants digits *with the country code*; the SDK never adds one (`(11) 98765-4321` → `11987654321`).
  We parse with libphonenumber (a lead's number is often national: `(11) 99999-9999`) in the company's
  country and hash the E.164 digits. We also accept separators the SDK rejects (`.`, `/`).
- external_id: Meta recommends hashing it; the SDK sends it as given, not even trimmed. We trim and hash, and
  keep the case: Meta asks for "the same format as on other channels", and a pixel that sends our lead id
  hashed must produce the same digest.
- country: both lower-case ISO 3166-1 alpha-2; we check the code against libphonenumber's regions (the SDK
  uses pycountry), so the result is the same for every real code.
- a value that already is a SHA-256 hex digest passes through unhashed (the SDK and Meta agree: no double
  hashing).
"""

from __future__ import annotations

import hashlib
import re

import phonenumbers

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# What a person may type around the digits of a phone number: spaces, dashes, dots, slashes, brackets.
_PHONE_SEPARATORS = re.compile(r"[\s\-./()\[\]]")


def sha256_hex(normalized: str) -> str:
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def is_hashed(value: str) -> bool:
    return bool(_SHA256_HEX.match(value))


def normalize_phone(raw: str, *, region: str = "BR") -> str | None:
    """The digits of the number in international form (`5511999999999`), or None when it is not a phone
    number of plausible length. ``region`` is the country assumed for numbers without a country code."""
    text = _PHONE_SEPARATORS.sub("", raw.strip())
    if not re.fullmatch(r"\+?\d+", text):
        return None
    # Bare digits are read as a national number of ``region`` first, then as an international one
    # (`431110` is Vienna's, not an impossible Brazilian number); a valid reading beats a merely possible one.
    readings = (
        [_parsed(text, region.upper())]
        if text.startswith("+")
        else [
            _parsed(text, region.upper()),
            _parsed(f"+{text}", None),
        ]
    )
    found = [n for n in readings if n is not None]
    for number in sorted(found, key=lambda n: not phonenumbers.is_valid_number(n)):
        digits = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
        # phonenumbers drops leading zeros of some impossible numbers (`+43000000` → `4300000`, which in
        # turn gives `430000`): a form that does not read back as itself cannot match Meta's hash of it.
        again = _parsed(f"+{digits}", None)
        if (
            again is not None
            and phonenumbers.format_number(again, phonenumbers.PhoneNumberFormat.E164) == f"+{digits}"
        ):
            return digits
    return None


def _parsed(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """The number when it has a plausible length for its country, else None."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


def normalize_country(raw: str) -> str | None:
    code = re.sub(r"[^A-Za-z]", "", raw).upper()
    return code.lower() if code in phonenumbers.SUPPORTED_REGIONS else None


def normalize_external_id(raw: str) -> str | None:
    return raw.strip() or None


def region_of_phone(digits: str) -> str | None:
    """The ISO country of an international number (`5511…` → `BR`), None for shared or unknown codes."""
    try:
        number = phonenumbers.parse(f"+{digits}")
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    return region if region and region != "ZZ" else None


def hashed_phone(raw: str, *, region: str = "BR") -> str | None:
    if is_hashed(raw):
        return raw
    digits = normalize_phone(raw, region=region)
    return sha256_hex(digits) if digits else None


def hashed_country(raw: str) -> str | None:
    if is_hashed(raw):
        return raw
    code = normalize_country(raw)
    return sha256_hex(code) if code else None


def hashed_external_id(raw: str) -> str | None:
    if is_hashed(raw):
        return raw
    value = normalize_external_id(raw)
    return sha256_hex(value) if value else None
