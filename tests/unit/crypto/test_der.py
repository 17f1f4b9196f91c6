"""The hand-written DER of envelope layers encodes exactly as asn1crypto does."""

from __future__ import annotations

from asn1crypto import core
from hypothesis import given
from hypothesis import strategies as st

from crypto.smime import der


@given(st.binary(max_size=70_000))
def test_octet_strings_of_any_length(data: bytes) -> None:
    assert der.octet_string(data) == core.OctetString(data).dump()


@given(
    st.lists(st.integers(min_value=0, max_value=2**40), min_size=1, max_size=8),
    st.integers(0, 2),
    st.integers(0, 39),
)
def test_object_identifiers(rest: list[int], first: int, second: int) -> None:
    dotted = ".".join(str(a) for a in [first, second, *rest])
    assert der.oid(dotted) == core.ObjectIdentifier(dotted).dump()


class _Octets(core.SequenceOf):  # type: ignore[misc]
    _child_spec = core.OctetString


class _OctetSet(core.SetOf):  # type: ignore[misc]
    _child_spec = core.OctetString


@given(st.lists(st.binary(max_size=40), max_size=6))
def test_sequences_and_sets_parse_back(items: list[bytes]) -> None:
    encoded = [der.octet_string(i) for i in items]
    assert _Octets.load(der.sequence(*encoded)).native == items
    as_set = _OctetSet.load(der.set_of(*encoded))
    assert sorted(as_set.native) == sorted(items)
    dumped = [child.dump() for child in as_set]
    assert dumped == sorted(dumped)  # X.690 §11.6 order


def test_tags_and_small_integers() -> None:
    assert der.small_integer(16) == core.Integer(16).dump()
    assert der.explicit(0, b"\x05\x00") == b"\xa0\x02\x05\x00"
    assert der.implicit_primitive(0, b"ab") == b"\x80\x02ab"
