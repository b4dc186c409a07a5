"""Destination normalisation to E.164 and sender rules (engine.numbers)."""

from __future__ import annotations

import pytest

from engine.numbers import (
    InvalidNumber,
    InvalidSender,
    NumberNormalizer,
    Sender,
    normalize_number,
    validate_sender,
)

pytestmark = pytest.mark.timeout(60)

GOOD = [
    # Russia: every way people write one mobile number
    ("+79031234567", "RU", "+79031234567"),
    ("89031234567", "RU", "+79031234567"),
    ("8 903 123 45 67", "RU", "+79031234567"),
    ("8-903-123-45-67", "RU", "+79031234567"),
    ("8 (903) 123-45-67", "RU", "+79031234567"),
    ("7 (903) 123-45-67", "RU", "+79031234567"),
    ("79031234567", "RU", "+79031234567"),
    ("9031234567", "RU", "+79031234567"),
    ("+7 903 123-45-67", "RU", "+79031234567"),
    ("+7(495) 981-12-10", "RU", "+74959811210"),  # Moscow landline
    ("8 800 555 35 35", "RU", "+78005553535"),  # toll-free, still a number
    ("810 44 7911 123456", "RU", "+447911123456"),  # Russian international prefix
    ("00 44 7911 123456", "RU", "+447911123456"),  # "00" written whatever the region
    # United Kingdom
    ("07911 123456", "GB", "+447911123456"),
    ("+44 7911 123456", "GB", "+447911123456"),
    ("0044 7911 123456", "GB", "+447911123456"),
    ("(020) 7946 0018", "GB", "+442079460018"),
    # United States
    ("(201) 555-0123", "US", "+12015550123"),
    ("201.555.0123", "US", "+12015550123"),
    ("1 201 555 0123", "US", "+12015550123"),
    ("+1-201-555-0123", "US", "+12015550123"),
    ("011 44 7911 123456", "US", "+447911123456"),
    # Brazil: 9-digit mobiles, trunk prefix 0 (+ carrier codes)
    ("+55 11 91234-5678", "BR", "+5511912345678"),
    ("(11) 91234-5678", "BR", "+5511912345678"),
    ("011 91234 5678", "BR", "+5511912345678"),
    ("0 15 11 91234-5678", "BR", "+5511912345678"),
    # an international number is the same whatever the default region
    ("+55 11 91234-5678", "RU", "+5511912345678"),
]


@pytest.mark.parametrize("raw, region, e164", GOOD)
def test_common_written_forms_normalise(raw, region, e164):
    assert normalize_number(raw, region) == e164
    assert NumberNormalizer(region)(raw) == e164


BAD = [
    ("900", "RU", "short code"),
    ("112", "RU", "short code"),
    ("101", "RU", "short code"),
    ("7494", "RU", "short code"),
    ("8800", "RU", "short code"),
    ("12345", "GB", "short code"),
    ("611", "US", "short code"),
    ("", "RU", "empty"),
    ("   ", "RU", "empty"),
    ("abc", "RU", "not part of a phone number"),
    ("+7 903 123 45 67 ext 5", "RU", "not part of a phone number"),
    ("7+9031234567", "RU", "only allowed at the start"),
    ("+7903", "RU", "too short"),
    ("+7 903 123 45 678", "RU", "wrong length"),
    ("+99912345678", "RU", "unknown country code"),
    ("+1 201 555 01234", "US", "too long"),
    ("1234567", "RU", "local number"),
    ("+7 000 123 45 67", "RU", "not a number in use"),
]


@pytest.mark.parametrize("raw, region, reason", BAD)
def test_impossible_numbers_are_refused_with_the_reason(raw, region, reason):
    with pytest.raises(InvalidNumber) as info:
        normalize_number(raw, region)
    assert reason in info.value.reason
    assert info.value.number == raw
    assert repr(raw) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unknown_region_is_refused():
    with pytest.raises(ValueError, match="region"):
        NumberNormalizer("XX")


def test_the_normaliser_remembers_answers_good_and_bad():
    n = NumberNormalizer("RU")
    for _ in range(3):
        assert n("8 903 123 45 67") == "+79031234567"
        with pytest.raises(InvalidNumber, match="short code"):
            n("900")
    assert n.misses == 2 and n.hits == 4


SENDERS = [
    ("MyShop", Sender("MyShop", 5, 0)),
    ("My Shop 24", Sender("My Shop 24", 5, 0)),
    ("ABCDEFGHIJK", Sender("ABCDEFGHIJK", 5, 0)),  # exactly 11
    ("Bank1", Sender("Bank1", 5, 0)),
    ("1234", Sender("1234", 3, 0)),  # short code
    ("12345678", Sender("12345678", 3, 0)),
    ("+79031234567", Sender("79031234567", 1, 1)),
    ("89031234567", Sender("79031234567", 1, 1)),  # national form -> international
    ("447911123456", Sender("447911123456", 1, 1)),
]


@pytest.mark.parametrize("raw, expected", SENDERS)
def test_valid_senders_and_their_ton_npi(raw, expected):
    s = validate_sender(raw, "RU")
    assert s == expected
    assert s.kind == {5: "alphanumeric", 3: "short code", 1: "international"}[expected.ton]


BAD_SENDERS = [
    ("", "empty"),
    ("ABCDEFGHIJKL", "12 characters"),
    ("Shop!", "'!' not allowed"),
    ("Магазин", "not allowed"),
    ("Shop_1", "'_' not allowed"),
    (" Shop", "leading or trailing"),
    ("Shop ", "leading or trailing"),
    ("1234567890123456", "16 digits"),
    ("+12", "not a valid phone number"),
    ("1234 5678", "without spaces"),
    ("12 34", "without spaces"),
]


@pytest.mark.parametrize("raw, reason", BAD_SENDERS)
def test_invalid_senders_are_refused_with_the_reason(raw, reason):
    with pytest.raises(InvalidSender) as info:
        validate_sender(raw, "RU")
    assert reason in info.value.reason
    assert info.value.sender == raw


# --- property: every written form of one valid number gives the same E.164 -----------

import phonenumbers  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_REGIONS = ("RU", "GB", "US", "BR", "DE", "IN", "FR", "TR")


@st.composite
def _written_number(draw):
    region = draw(st.sampled_from(_REGIONS))
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    nsn = str(example.national_number)
    tail = draw(st.integers(0, 10 ** 4 - 1))
    candidate = phonenumbers.parse(f"+{example.country_code}{nsn[:-4]}{tail:04d}", None)
    if not phonenumbers.is_valid_number(candidate):
        candidate = example
    e164 = phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
    style = draw(st.sampled_from(("e164", "international", "national", "idd00", "digits")))
    if style == "e164":
        text = e164
    elif style == "international":
        text = phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    elif style == "national":
        text = phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.NATIONAL)
    elif style == "idd00":
        text = "00 " + e164[1:]
    else:
        text = phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.NATIONAL)
        text = "".join(c for c in text if c.isdigit())
    # people's separators: spaces, dashes, dots, brackets
    sep = draw(st.sampled_from((" ", "-", ".", "")))
    text = text.replace(" ", sep) if style != "e164" else text
    return region, text, e164


@settings(max_examples=150, deadline=None)
@given(_written_number())
def test_every_written_form_gives_the_same_e164(case):
    region, text, e164 = case
    assert normalize_number(text, region) == e164
