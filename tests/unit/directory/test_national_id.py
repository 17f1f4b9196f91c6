"""National identifiers: RPPS (Luhn-checked) and ADELI (shape-checked) under the MSSanté
prefixes, and the pluggable scheme registry."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from directory import national_id
from directory.national_id import InvalidNationalId, Rpps, luhn_check_digit, luhn_valid

ten_digits = st.text(alphabet="0123456789", min_size=10, max_size=10)


def test_known_luhn_values() -> None:
    # The classic worked example of ISO/IEC 7812-1 annex B: 7992739871 -> 3.
    assert luhn_check_digit("7992739871") == 3
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


@given(ten_digits)
def test_rpps_with_its_check_digit_is_accepted(first_ten: str) -> None:
    parsed = national_id.parse("8" + Rpps().with_check_digit(first_ten))
    assert parsed.scheme == "rpps"
    assert parsed.prefix == "8" and parsed.identifier[:10] == first_ten


@given(ten_digits, st.integers(min_value=1, max_value=9))
def test_any_wrong_rpps_check_digit_is_refused(first_ten: str, shift: int) -> None:
    good = Rpps().with_check_digit(first_ten)
    bad = good[:10] + str((int(good[10]) + shift) % 10)
    with pytest.raises(InvalidNationalId, match="check digit"):
        national_id.parse("8" + bad)


@given(ten_digits, st.integers(min_value=0, max_value=9))
def test_a_single_digit_typo_in_rpps_is_caught(first_ten: str, position: int) -> None:
    good = Rpps().with_check_digit(first_ten)
    replaced = str((int(good[position]) + 1) % 10)
    typo = good[:position] + replaced + good[position + 1 :]
    assert national_id.problem("8" + typo) is not None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty"),
        ("9123", "unknown identifier type '9'"),
        ("8" + "1" * 10, "11 digits"),
        ("8" + "1234567890A", "11 digits"),
        ("8" + "١٢٣٤٥٦٧٨٩٠١", "11 digits"),  # non-ASCII digits
        ("0" + "75123456", "9 characters"),
        ("0" + "ZZ1234567", "département"),
        ("0" + "20" + "1234567", "département"),  # Corsica is 2A/2B, not 20
        ("0" + "751A34567", "7 digits"),
    ],
)
def test_malformed_identifiers_are_refused_with_the_reason(value: str, reason: str) -> None:
    with pytest.raises(InvalidNationalId, match=reason):
        national_id.parse(value)


@pytest.mark.parametrize("adeli", ["751234567", "2A1234567", "2b0000001", "971234567"])
def test_adeli_shapes_are_accepted(adeli: str) -> None:
    parsed = national_id.parse("0" + adeli)
    assert parsed.scheme == "adeli"
    assert parsed.value == "0" + adeli.upper()


def test_surrounding_blanks_are_ignored() -> None:
    value = "8" + Rpps().with_check_digit("1000000000")
    assert national_id.parse(f"  {value}\t").value == value


@given(st.text(max_size=20))
def test_parse_either_accepts_or_raises_invalid(value: str) -> None:
    try:
        parsed = national_id.parse(value)
    except InvalidNationalId as exc:
        assert str(exc).startswith("invalid national identifier")
    else:
        assert national_id.problem(parsed.value) is None


def test_schemes_are_pluggable() -> None:
    class Test:
        name = "test-scheme"
        prefix = "T"

        def problem(self, identifier: str) -> str | None:
            return None if identifier == "OK" else "not OK"

    national_id.register(Test())
    try:
        assert national_id.parse("TOK").scheme == "test-scheme"
        with pytest.raises(InvalidNationalId, match="not OK"):
            national_id.parse("TKO")
        with pytest.raises(ValueError, match="already used"):
            national_id.register(Test())
    finally:
        national_id.unregister("T")
    assert national_id.problem("TOK") is not None
