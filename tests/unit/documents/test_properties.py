"""Property tests: each parser, on any input, returns or raises only its own error."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.attachments import cda, hl7v2, xdm
from gateway.attachments.detect import detect
from gateway.attachments.errors import AttachmentError, CdaError, DetectError, Hl7Error, XdmError
from gateway.attachments.hl7v2_grammar import Delimiters, Hl7Limits, parse_message, unescape
from gateway.attachments.xml_reader import XmlLimits
from gateway.attachments.zip_reader import ZipLimits
from tests.unit.documents import fuzz
from tests.unit.documents.builders import cda as build_cda
from tests.unit.documents.builders import oru, raw_zip
from tests.unit.documents.builders import xdm as build_xdm

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HL7_TEXT = st.text(alphabet="MSHPIDOBXR|^~\\&\r\n0123456789ABC.", max_size=300)
segment = st.builds(
    lambda i, f: f"{i}|{f}",
    st.sampled_from(["PID", "OBR", "OBX", "PRT", "MSH", "NTE", "pid"]),
    HL7_TEXT,
)


@SETTINGS
@given(st.lists(segment, max_size=8), st.sampled_from(["\r", "\n", "\r\n"]))
def test_hl7_structured_input(segments: list[str], terminator: str) -> None:
    data = "MSH|^~\\&|A|B|C|D|20260101||ORU^R01|1|P|2.5" + terminator + terminator.join(segments)
    with contextlib.suppress(Hl7Error):
        hl7v2.read(data.encode(), Hl7Limits())


@SETTINGS
@given(st.binary(max_size=2000))
def test_hl7_any_bytes(data: bytes) -> None:
    with contextlib.suppress(Hl7Error):
        hl7v2.read(b"MSH|^~\\&|" + data, Hl7Limits())


@SETTINGS
@given(st.text(max_size=200))
def test_unescape_never_crashes_and_plain_text_is_unchanged(text: str) -> None:
    try:
        out = unescape(text, Delimiters())
    except Hl7Error:
        return
    if "\\" not in text:
        assert out == text


@SETTINGS
@given(st.lists(st.text(alphabet="abc^&~", max_size=20), max_size=20))
def test_hl7_field_split_roundtrip(values: list[str]) -> None:
    """Escaped values survive the grammar: what is written is what is read."""
    escaped = [v.replace("^", "\\S\\").replace("&", "\\T\\").replace("~", "\\R\\") for v in values]
    data = ("MSH|^~\\&|A|B|||||ACK^R01|1|P|2.5\rNTE|" + "|".join(escaped)).encode()
    nte = parse_message(data, Hl7Limits()).segments[1]
    assert [nte.get(n) for n in range(1, len(values) + 1)] == values


XML_TEXT = st.text(alphabet='<>/="?!-&;abcCDAlinicalDocument xmlns:urn:hl7-org:v3 \n', max_size=400)


@SETTINGS
@given(st.one_of(st.binary(max_size=2000), XML_TEXT.map(str.encode)))
def test_cda_any_input(data: bytes) -> None:
    with contextlib.suppress(CdaError):
        cda.read(data, XmlLimits())


@SETTINGS
@given(st.binary(max_size=3000))
def test_xdm_any_bytes(data: bytes) -> None:
    with contextlib.suppress(XdmError, CdaError):
        xdm.read(b"PK\x03\x04" + data, xdm.XdmLimits())


@SETTINGS
@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=30), st.binary(max_size=200)),
        max_size=6,
        unique_by=lambda e: e[0],
    )
)
def test_xdm_any_archive(entries: list[tuple[str, bytes]]) -> None:
    try:
        data = raw_zip(entries)
    except (ValueError, UnicodeEncodeError):
        return  # zipfile itself cannot write such a name
    with contextlib.suppress(XdmError, CdaError):
        xdm.read(data, xdm.XdmLimits())


@SETTINGS
@given(
    st.binary(max_size=500),
    st.sampled_from(["text/xml", "application/zip", "application/hl7-v2", "text/plain"]),
    st.sampled_from(["a.xml", "a.zip", "a.hl7", "a.pdf", ""]),
)
def test_detect_any_input(data: bytes, declared: str, name: str) -> None:
    with contextlib.suppress(DetectError):
        detect(data, declared, name, ZipLimits())


def test_bounded_fuzz_run_finds_no_crash(shared_fixtures: Path) -> None:
    """2,000 mutated inputs per parser from synthetic and public seeds; counts are printed."""
    report = fuzz.run(2000, shared=shared_fixtures)
    print(
        {n: (report.executions[n], report.refused[n]) for n in report.executions},
        "crashes",
        len(report.crashes),
    )
    assert report.crashes == []
    assert all(n == 2000 for n in report.executions.values())
    assert all(report.refused[n] > 0 for n in report.refused)  # mutations do reach the refusals


@pytest.mark.parametrize("seed", [build_cda(), oru(), build_xdm()])
def test_mutations_of_valid_documents_only_raise_attachment_errors(seed: bytes) -> None:
    import random  # noqa: PLC0415

    rng = random.Random(11)
    for _ in range(200):
        data = fuzz.mutate(seed, rng)
        for parser in fuzz.PARSERS.values():
            with contextlib.suppress(AttachmentError):
                parser(data)
