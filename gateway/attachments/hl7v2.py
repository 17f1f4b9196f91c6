"""HL7 v2.x messages as documents: ORU^R01 results, MDM^T02 documents, ACK.

Reads what routing and packaging need and nothing more: MSH-9 message type, MSH-10
control id, whether PID-3 holds a patient national id (INS), the recipients (OBR-16
ordering provider, OBR-28 result copies, PRT participants RCT/OP, TXA-23 distributed
copies) and the OBX-5 ED embedded documents (base64 CDA or PDF). The grammar lives in
`hl7v2_grammar`; this module applies the message rules (IHE PaLM / MSSanté CI-SIS
"Transmission de documents CDA en HL7 v2").

The python-hl7 package was considered and not used (docs/decisions.md): it splits
segments on CR only, has no limits and no types.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from gateway.attachments.codes import Code, v2_code
from gateway.attachments.errors import (
    HL7_DATA_TYPE_ERROR,
    HL7_REQUIRED_FIELD_MISSING,
    HL7_SEGMENT_SEQUENCE_ERROR,
    HL7_UNSUPPORTED_MESSAGE_TYPE,
    HL7_UNSUPPORTED_VERSION,
    Hl7Error,
)
from gateway.attachments.hl7v2_grammar import (
    Hl7Limits,
    Hl7Message,
    Repetition,
    Segment,
    parse_message,
)
from gateway.attachments.parties import IdScheme, Party, PartyId, party_id

# PRT-4 participation codes (HL7 table 0912) that name a recipient of the results.
RECIPIENT_PARTICIPATIONS = frozenset({"RCT", "OP"})
SENDER_PARTICIPATION = "SB"
# OBX-5 ED data subtypes that carry a document we validate and package.
_DOCUMENT_SUBTYPES = {"XML": "text/xml", "PDF": "application/pdf"}
_SUPPORTED = ("ORU^R01", "MDM^T02", "ACK")


@dataclass(frozen=True, slots=True)
class EmbeddedDocument:
    """A document carried in OBX-5 (data type ED)."""

    obx: str  # OBX-1 set id, to name it in faults
    code: Code  # OBX-3
    media_type: str  # "text/xml" or "application/pdf"
    content: bytes


@dataclass(frozen=True, slots=True)
class Hl7Document:
    message_type: str  # "ORU^R01", "MDM^T02", "ACK^R01"
    control_id: str  # MSH-10
    version: str  # MSH-12
    sent_at: str  # MSH-7, as written (YYYYMMDDHHMM…)
    patient_id_present: bool  # PID-3 holds an INS
    codes: tuple[Code, ...]  # OBR-4 / TXA-2 document or order codes
    recipients: tuple[Party, ...]
    sender: Party | None  # PRT SB
    embedded: tuple[EmbeddedDocument, ...]
    terminator: str  # "CR", "LF" or "CRLF", as found


def read(data: bytes, limits: Hl7Limits) -> Hl7Document:
    """Parse and validate one message; raise Hl7Error naming the first fault."""
    message = parse_message(data, limits)
    msh = message.segments[0]
    code, trigger = msh.get(9, 1), msh.get(9, 2)
    message_type = f"{code}^{trigger}" if trigger else code
    if not code:
        raise Hl7Error("MSH-9 message type missing", code=HL7_REQUIRED_FIELD_MISSING)
    if not msh.get(10):
        raise Hl7Error("MSH-10 message control id missing", code=HL7_REQUIRED_FIELD_MISSING)
    version = msh.get(12)
    if not version.startswith("2."):
        raise Hl7Error(f"MSH-12 version {version!r} is not HL7 v2.x", code=HL7_UNSUPPORTED_VERSION)
    if code != "ACK" and message_type not in _SUPPORTED:
        raise Hl7Error(
            f"message type {message_type} is not supported (ORU^R01, MDM^T02, ACK)",
            code=HL7_UNSUPPORTED_MESSAGE_TYPE,
        )
    _check_structure(message, "ACK" if code == "ACK" else message_type)
    return Hl7Document(
        message_type=message_type,
        control_id=msh.get(10),
        version=version,
        sent_at=msh.get(7),
        patient_id_present=_patient_id_present(message),
        codes=_codes(message),
        recipients=_recipients(message),
        sender=_sender(message),
        embedded=tuple(_embedded(s, limits) for s in message.all("OBX") if _is_document(s)),
        terminator=message.terminator,
    )


def _check_structure(message: Hl7Message, kind: str) -> None:
    required = {"ORU^R01": ("PID", "OBR"), "MDM^T02": ("PID", "TXA", "OBX"), "ACK": ("MSA",)}
    for seg_id in required[kind]:
        if message.first(seg_id) is None:
            raise Hl7Error(f"{kind} without a {seg_id} segment", code=HL7_SEGMENT_SEQUENCE_ERROR)
    if kind == "ORU^R01":
        for obr in message.all("OBR"):
            if not obr.field(16):
                raise Hl7Error(
                    f"OBR-16 ordering provider missing in OBR {obr.get(1) or '?'}",
                    code=HL7_REQUIRED_FIELD_MISSING,
                )


def _patient_id_present(message: Hl7Message) -> bool:
    pid = message.first("PID")
    if pid is None:
        return False
    return any(_cx_id(rep).scheme is IdScheme.PATIENT for rep in pid.field(3) if rep)


def _cx_id(rep: Repetition) -> PartyId:
    """CX: 1 id, 4 assigning authority (HD namespace&OID&type), 5 identifier type code."""
    return party_id(_c(rep, 4, 2), _c(rep, 1), namespace=_c(rep, 4, 1), type_code=_c(rep, 5))


def _codes(message: Hl7Message) -> tuple[Code, ...]:
    codes = [v2_code(o.get(4, 1), o.get(4, 2), o.get(4, 3)) for o in message.all("OBR")]
    codes += [v2_code(t.get(2, 1), t.get(2, 2), t.get(2, 3)) for t in message.all("TXA")]
    unique: dict[str, Code] = {}
    for c in codes:
        if c.code:
            unique.setdefault(c.code, c)
    return tuple(unique.values())


def _recipients(message: Hl7Message) -> tuple[Party, ...]:
    found: list[Party] = []
    for obr in message.all("OBR"):
        found += [_xcn_party(rep, "OBR-16") for rep in obr.field(16)]
        found += [_xcn_party(rep, "OBR-28") for rep in obr.field(28)]
    for txa in message.all("TXA"):
        found += [_xcn_party(rep, "TXA-23") for rep in txa.field(23)]
    for prt in message.all("PRT"):
        if prt.get(4) in RECIPIENT_PARTICIPATIONS:
            found.append(_prt_party(prt, f"PRT {prt.get(4)}"))
    return tuple(p for p in found if p.ids or p.address or p.name)


def _sender(message: Hl7Message) -> Party | None:
    prt = next((p for p in message.all("PRT") if p.get(4) == SENDER_PARTICIPATION), None)
    return None if prt is None else _prt_party(prt, "PRT SB")


def _prt_party(prt: Segment, role: str) -> Party:
    """PRT-5 person (XCN), PRT-8 organisation (XON), PRT-15 telecom address (XTN)."""
    person = prt.field(5)[0] if prt.field(5) else ()
    party = _xcn_party(person, role)
    ids = list(party.ids)
    for org in prt.field(8):
        org_id = _c(org, 10) or _c(org, 3)
        if org_id:
            ids.append(
                party_id(_c(org, 6, 2), org_id, namespace=_c(org, 6, 1), type_code=_c(org, 7))
            )
    address = next((a for a in (_xtn_address(t) for t in prt.field(15)) if a), None)
    name = party.name or (_c(prt.field(8)[0], 1) if prt.field(8) else "")
    return Party(role, tuple(ids), name, address)


def _xcn_party(rep: Repetition, role: str) -> Party:
    """XCN: 1 id, 2 family, 3 given, 6 prefix, 9 assigning authority, 13 type code."""
    ids: tuple[PartyId, ...] = ()
    if _c(rep, 1):
        ids = (party_id(_c(rep, 9, 2), _c(rep, 1), namespace=_c(rep, 9, 1), type_code=_c(rep, 13)),)
    name = " ".join(x for x in (_c(rep, 6), _c(rep, 3), _c(rep, 2)) if x)
    return Party(role, ids, name)


def _xtn_address(rep: Repetition) -> str | None:
    """XTN: 2 use (NET), 3 equipment type (X.400, Internet), 4 communication address."""
    address = _c(rep, 4).strip()
    is_mail = _c(rep, 3).upper() in ("X.400", "INTERNET") or _c(rep, 2).upper() == "NET"
    return address.lower() if is_mail and "@" in address else None


def _is_document(obx: Segment) -> bool:
    return obx.get(2) == "ED" and obx.get(5, 3).upper() in _DOCUMENT_SUBTYPES


def _embedded(obx: Segment, limits: Hl7Limits) -> EmbeddedDocument:
    """ED: 1 source, 2 type of data, 3 subtype, 4 encoding (Base64/A/Hex), 5 data."""
    where = f"OBX {obx.get(1) or obx.position} (OBX-5)"
    encoding, data = obx.get(5, 4).upper(), obx.get(5, 5)
    try:
        if encoding == "BASE64":
            content = binascii.a2b_base64(data.encode("ascii"), strict_mode=True)
        elif encoding == "HEX":
            content = bytes.fromhex(data)
        elif encoding == "A":
            content = data.encode("utf-8")
        else:
            raise Hl7Error(
                f"{where}: ED encoding {encoding!r} is not Base64, Hex or A",
                code=HL7_DATA_TYPE_ERROR,
            )
    except (binascii.Error, ValueError) as exc:
        raise Hl7Error(
            f"{where}: embedded document is not valid {encoding.title()} ({exc})",
            code=HL7_DATA_TYPE_ERROR,
        ) from None
    if not content:
        raise Hl7Error(f"{where}: embedded document is empty", code=HL7_REQUIRED_FIELD_MISSING)
    if len(content) > limits.max_bytes:
        raise Hl7Error(f"{where}: embedded document is over {limits.max_bytes} bytes")
    code = v2_code(obx.get(3, 1), obx.get(3, 2), obx.get(3, 3))
    return EmbeddedDocument(obx.get(1), code, _DOCUMENT_SUBTYPES[obx.get(5, 3).upper()], content)


def _c(rep: Repetition, component: int, sub: int = 1) -> str:
    if not 0 < component <= len(rep):
        return ""
    comp = rep[component - 1]
    return comp[sub - 1] if 0 < sub <= len(comp) else ""
