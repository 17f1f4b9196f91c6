"""HL7 v2 grammar and message rules (HL7 v2.5 chapter 2; MSSanté CI-SIS ORU/MDM)."""

from __future__ import annotations

import base64

import pytest

from gateway.attachments import hl7v2
from gateway.attachments.errors import (
    HL7_REQUIRED_FIELD_MISSING,
    HL7_UNSUPPORTED_MESSAGE_TYPE,
    Hl7Error,
)
from gateway.attachments.hl7v2_grammar import Hl7Limits, parse_message
from gateway.attachments.parties import IdScheme
from tests.unit.documents.builders import cda, oru, xcn

LIMITS = Hl7Limits()


@pytest.mark.parametrize("terminator", ["\r", "\n", "\r\n"])
def test_each_segment_terminator_reads_the_same_message(terminator: str) -> None:
    message = parse_message(oru(terminator=terminator), LIMITS)
    assert [s.id for s in message.segments] == ["MSH", "PID", "ORC", "OBR"]
    assert message.terminator == {"\r": "CR", "\n": "LF", "\r\n": "CRLF"}[terminator]


def test_mixed_terminators_are_refused_by_name() -> None:
    data = oru(terminator="\r").replace(b"\rORC", b"\nORC")
    with pytest.raises(Hl7Error, match=r"mixed segment terminators \(CR and LF\)"):
        parse_message(data, LIMITS)


def test_msh_delimiters_are_read_from_the_message() -> None:
    # field "#", component "*", repetition "@", escape "!", subcomponent "%"
    data = b"MSH#*@!%#LIS#LAB#####ACK*R01#1#P#2.5\rMSA#AA#9*x%w@y!F!z\r"
    message = parse_message(data, LIMITS)
    msa = message.segments[1]
    assert message.delimiters.field == "#"
    assert msa.get(2, 1) == "9"
    assert (msa.get(2, 2, 1), msa.get(2, 2, 2)) == ("x", "w")
    assert msa.get(2, 1, rep=2) == "y#z"


def test_escape_sequences_are_resolved() -> None:
    data = b"MSH|^~\\&|A|B|||||ACK^R01|1|P|2.5\rNTE|1||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X41\\\\.br\\g\r"
    nte = parse_message(data, LIMITS).segments[1]
    assert nte.get(3) == "a|b^c&d~e\\fA\ng"


@pytest.mark.parametrize(
    ("field", "fault"),
    [
        ("a\\F", "unterminated escape"),
        ("a\\Q\\b", "unknown escape sequence"),
        ("\\XZZ\\", "bad hexadecimal"),
    ],
)
def test_bad_escapes_are_refused(field: str, fault: str) -> None:
    data = f"MSH|^~\\&|A|B|||||ACK^R01|1|P|2.5\rNTE|1||{field}\r".encode()
    with pytest.raises(Hl7Error, match=fault):
        parse_message(data, LIMITS)


def test_repetitions_components_and_subcomponents() -> None:
    data = b"MSH|^~\\&|A|B|||||ACK^R01|1|P|2.5\rPID|||1^^^AUTH&1.2.3&ISO~2^^^X\r"
    pid = parse_message(data, LIMITS).segments[1]
    assert len(pid.field(3)) == 2
    assert pid.get(3, 4, 2) == "1.2.3"
    assert pid.get(3, 1, rep=2) == "2"
    assert pid.get(3, 9) == "" and pid.get(40) == ""


@pytest.mark.parametrize(
    ("data", "fault"),
    [
        (b"PID|1\r", "does not start with an MSH"),
        (b"MSH|^~\r", "too short"),
        (b"MSH|^^\\&|A\r", "distinct punctuation"),
        (b"MSH|^~\\&|A|B|||||ACK|1|P|2.5||||||XYZ\r", "character set 'XYZ'"),
        (b"MSH|^~\\&|A|B|||||ACK|1|P|2.5\rpid|1\r", "does not start with a segment id"),
        (b"MSH|^~\\&|A|B|||||ACK|1|P|2.5\rBHS|^~\\&\r", "batch files"),
        (b"MSH|^~\\&|A\xff|B|||||ACK|1|P|2.5\r", "not valid"),
    ],
)
def test_grammar_faults_are_named(data: bytes, fault: str) -> None:
    with pytest.raises(Hl7Error, match=fault):
        parse_message(data, LIMITS)


def test_latin1_charset_from_msh18_is_decoded() -> None:
    data = "MSH|^~\\&|A|B|||||ACK^R01|1|P|2.5|||||FRA|8859/1\rNTE|1||Hôpital\r".encode("latin-1")
    assert parse_message(data, LIMITS).segments[1].get(3) == "Hôpital"


def test_oru_yields_recipients_patient_presence_and_embedded_cda() -> None:
    data = oru(
        obr28=[xcn("801234567898")],
        prt_recipients=[("801234567899", "Dr.B@Salus.test")],
        embedded=cda(),
    )
    document = hl7v2.read(data, LIMITS)
    assert document.message_type == "ORU^R01"
    assert document.control_id == "MSG-0001"
    assert document.patient_id_present is True
    assert [(p.role, p.national_id) for p in document.recipients] == [
        ("OBR-16", "801234567897"), ("OBR-28", "801234567898"), ("PRT RCT", "801234567899")]  # fmt: skip
    assert document.recipients[2].address == "dr.b@salus.test"
    assert document.embedded[0].content == cda()
    assert document.codes[0].code == "11502-2"


def test_oru_without_obr16_is_refused() -> None:
    with pytest.raises(Hl7Error, match=r"OBR-16 ordering provider missing in OBR 1") as caught:
        hl7v2.read(oru(obr16=""), LIMITS)
    assert caught.value.code == HL7_REQUIRED_FIELD_MISSING


def test_unsupported_message_type_is_refused_with_code_200() -> None:
    with pytest.raises(Hl7Error, match=r"ADT\^A01 is not supported") as caught:
        hl7v2.read(oru(message_type="ADT^A01"), LIMITS)
    assert caught.value.code == HL7_UNSUPPORTED_MESSAGE_TYPE


def test_ack_needs_msa() -> None:
    ack = b"MSH|^~\\&|A|B|C|D|20260101||ACK^R01^ACK|7|P|2.5\rMSA|AA|MSG-0001\r"
    assert hl7v2.read(ack, LIMITS).message_type == "ACK^R01"
    with pytest.raises(Hl7Error, match=r"without a MSA"):
        hl7v2.read(ack.split(b"\r")[0] + b"\r", LIMITS)


def test_mdm_t02_needs_txa_and_reads_distributed_copies() -> None:
    msh = "MSH|^~\\&|A|B|C|D|20260101||MDM^T02^MDM_T02|7|P|2.6"
    txa = "TXA|1|18748-4|TEXT" + "|" * 20 + xcn("801234567896")
    data = "\r".join([msh, "PID|||1^^^X", txa, "OBX|1|TX|x||y"]).encode()
    document = hl7v2.read(data, LIMITS)
    assert [p.national_id for p in document.recipients] == ["801234567896"]
    with pytest.raises(Hl7Error, match=r"without a TXA"):
        hl7v2.read("\r".join([msh, "PID|||1", "OBX|1|TX|x||y"]).encode(), LIMITS)


def test_patient_recipient_and_structure_ids_are_classified() -> None:
    prt = ("PRT||UC||RCT^^participation|299^P^Q^^^^^^INS&1.2.250.1.213.1.4.10&ISO^L^^^INS"
           "|||Cabinet^^^^^ASIP-SANTE-ST&1.2.250.1.71.4.2.2&ISO^FINEG^^^1000000002")  # fmt: skip
    document = hl7v2.read(oru(extra_segments=[prt]), LIMITS)
    patient = document.recipients[-1]
    assert patient.is_patient
    assert patient.structure_id == "1000000002"
    assert "299" not in patient.label()  # patient ids never appear in refusals


def test_bare_rpps_under_the_national_oid_gets_its_prefix() -> None:
    document = hl7v2.read(oru(obr16=xcn("01234567897")), LIMITS)
    assert document.recipients[0].national_id == "801234567897"
    foreign = hl7v2.read(oru(obr16="123^DOE^JOHN^^^^^^NPI&2.16.840.1.113883.4.6&ISO"), LIMITS)
    assert foreign.recipients[0].ids[0].scheme is IdScheme.FOREIGN


def test_embedded_document_with_bad_base64_is_refused() -> None:
    data = oru(extra_segments=["OBX|1|ED|11502-2^CR^LN||^TEXT^XML^Base64^@@@@||||||F"])
    with pytest.raises(Hl7Error, match=r"OBX 1 \(OBX-5\): embedded document is not valid Base64"):
        hl7v2.read(data, LIMITS)


def test_ed_without_document_subtype_is_not_a_document() -> None:
    body = base64.b64encode(b"mail body").decode()[:-1]  # broken, but only a mail body
    data = oru(
        extra_segments=[f"OBX|2|ED|CORPSMAIL_PS^Corps^MetaDMPMSS||^TEXT^^Base64^{body}||||||F"]
    )
    assert hl7v2.read(data, LIMITS).embedded == ()
