"""Mail addresses and domains the directory accepts (RFC 5321 dot-atom, ASCII, limits)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from directory.addresses import address_problem, address_reason, parse_address, parse_domain
from directory.errors import InvalidInput


@pytest.mark.parametrize(
    "address",
    ["a@b.test", "camille.durand@ch-test.salus.test", "x+tag@a1.test", "x" * 64 + "@a.test"],
)
def test_valid_addresses(address: str) -> None:
    assert address_problem(address) is None
    assert parse_address(f"  {address.upper()} ") == address


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("no-at-sign", "local-part@domain"),
        ("@a.test", "local-part@domain"),
        ("a..b@a.test", "dot-atom"),
        (".a@a.test", "dot-atom"),
        ("x" * 65 + "@a.test", "at most 64"),
        ("é@a.test", "dot-atom"),
        ("a@localhost", "at least two labels"),
        ("a@-bad.test", "inner hyphens"),
        ("a@b_c.test", "inner hyphens"),
        ("a@" + "b" * 64 + ".test", "inner hyphens"),
        ("a@" + "b." * 130 + "test", "at most 254"),
    ],
)
def test_invalid_addresses_name_the_fault(address: str, reason: str) -> None:
    problem = address_problem(address)
    assert problem is not None and reason in problem
    with pytest.raises(InvalidInput, match="invalid address"):
        parse_address(address)


@given(
    st.text(alphabet="ab.-_@+é1", max_size=30)
    | st.from_regex(r"[a-z0-9.]{1,70}@[a-z0-9.-]{1,70}", fullmatch=True)
)
def test_the_fast_path_agrees_with_the_detailed_check(address: str) -> None:
    assert (address_problem(address) is None) == (address_reason(address) is None)


def test_domains() -> None:
    assert parse_domain(" Peer.Test. ") == "peer.test"
    with pytest.raises(InvalidInput, match="at least two labels"):
        parse_domain("peer")
