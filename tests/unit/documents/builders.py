"""Synthetic structured documents for the tests: HL7 v2 messages, CDA R2 documents, XDM
packages and the mails that carry them. Synthetic people, `.test` domains only."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage

from gateway.attachments.codes import Code
from gateway.attachments.parties import IdScheme, Party, PartyId
from gateway.attachments.xdm_writer import PackagedDocument, write_package

RPPS_OID = "1.2.250.1.71.4.2.1"
INS_TEST_OID = "1.2.250.1.213.1.4.10"
NOW = datetime(2026, 1, 15, 10, 30, tzinfo=UTC)


def cda(
    *,
    recipients: Sequence[tuple[str, str]] = (("801234567897", RPPS_OID),),
    patient_ins: bool = True,
    code: str = "11502-2",
    title: str = "Compte rendu d'examens biologiques",
    author_id: str = "810000000001",
    stylesheet: str | None = None,
    body: str = "<component><structuredBody/></component>",
    extra_prolog: str = "",
) -> bytes:
    recipient_xml = "".join(
        f'<informationRecipient><intendedRecipient><id root="{root}" extension="{ext}"/>'
        "<informationRecipient><name><given>Alice</given><family>MARTIN</family></name>"
        "</informationRecipient></intendedRecipient></informationRecipient>"
        for ext, root in recipients
    )
    patient_id = (
        f'<id root="{INS_TEST_OID}" extension="299999999999999"/>'
        if patient_ins
        else '<id root="1.2.3.4" extension="LOCAL-42"/>'
    )
    pi = f'<?xml-stylesheet type="text/xsl" href="{stylesheet}"?>\n' if stylesheet else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{extra_prolog}{pi}'
        '<ClinicalDocument xmlns="urn:hl7-org:v3">'
        '<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>'
        '<id root="1.2.250.1.999.1" extension="DOC-1"/>'
        f'<code code="{code}" codeSystem="2.16.840.1.113883.6.1" displayName="CR de biologie"/>'
        f"<title>{title}</title>"
        '<effectiveTime value="20260115101500+0100"/>'
        '<confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>'
        '<languageCode code="fr-FR"/>'
        f"<recordTarget><patientRole>{patient_id}<patient><name><family>TEST</family>"
        "</name></patient></patientRole></recordTarget>"
        f'<author><time value="20260115"/><assignedAuthor><id root="{RPPS_OID}" extension="{author_id}"/>'
        "<assignedPerson><name><prefix>Dr</prefix><given>Paul</given><family>LAB</family></name>"
        "</assignedPerson></assignedAuthor></author>"
        "<custodian><assignedCustodian><representedCustodianOrganization>"
        '<id root="1.2.250.1.71.4.2.2" extension="1000000001"/><name>Laboratoire Test</name>'
        "</representedCustodianOrganization></assignedCustodian></custodian>"
        f"{recipient_xml}{body}</ClinicalDocument>"
    ).encode()


def xcn(national_id: str, family: str = "MARTIN", given: str = "Alice") -> str:
    return f"{national_id}^{family}^{given}^^^^^^ASIP-SANTE-PS&{RPPS_OID}&ISO^D^^^IDNPS"


def oru(
    *,
    obr16: str | None = None,
    obr28: Sequence[str] = (),
    prt_recipients: Sequence[tuple[str, str | None]] = (),
    embedded: bytes | None = None,
    terminator: str = "\r",
    message_type: str = "ORU^R01^ORU_R01",
    extra_segments: Sequence[str] = (),
) -> bytes:
    """An ORU^R01 (or another type) with OBR-16/OBR-28 recipients and PRT RCT participants."""
    obr16 = xcn("801234567897") if obr16 is None else obr16
    obr = ["OBR", "1", "ORD-1", "LAB-1", "11502-2^CR d'examens biologiques^LN"] + [""] * 12
    obr[16] = obr16
    obr += [""] * 11 + ["~".join(obr28)]
    segments = [
        f"MSH|^~\\&|LIS|LAB|SALUS|HOSP|20260115103000||{message_type}|MSG-0001|P|2.5|||||FRA|UNICODE UTF-8",
        f"PID|||299999999999999^^^ASIP-SANTE-INS-NIR&{INS_TEST_OID}&ISO^INS||TEST^PATIENT",
        "ORC|NW|ORD-1",
        "|".join(obr),
    ]
    for national_id, address in prt_recipients:
        telecom = f"^^X.400^{address}" if address else ""
        segments.append(f"PRT||UC||RCT^^participation|{xcn(national_id)}||||||||||{telecom}")
    if embedded is not None:
        data = base64.b64encode(embedded).decode()
        segments.append(
            f"OBX|1|ED|11502-2^CR d'examens biologiques^LN||^TEXT^XML^Base64^{data}||||||F"
        )
    segments += extra_segments
    return (terminator.join(segments) + terminator).encode()


def xdm(
    documents: Sequence[bytes] = (),
    *,
    recipients: Sequence[Party] = (
        Party("intendedRecipient", (PartyId(IdScheme.NATIONAL, "801234567897"),)),
    ),
) -> bytes:
    docs = documents or [cda()]
    return write_package(
        [
            PackagedDocument(
                f"DOC{i:04d}.XML",
                d,
                "text/xml",
                "Compte rendu",
                Code("11502-2", "2.16.840.1.113883.6.1"),
                "20260115",
                "Dr Paul LAB",
                "",
            )
            for i, d in enumerate(docs, start=1)
        ],
        recipients=recipients,
        author="Dr Paul LAB",
        source_oid="2.25.1",
        submitted_at=NOW,
    )


def raw_zip(
    entries: Sequence[tuple[str, bytes]], *, compression: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in entries:
            archive.writestr(
                zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)),
                content,
                compress_type=compression,
            )
    return buffer.getvalue()


def xdm_entries(
    metadata: bytes,
    documents: Sequence[tuple[str, bytes]] = (),
    *,
    index: bytes = b"<html><body><p>x</p></body></html>",
) -> list[tuple[str, bytes]]:
    return [
        ("README.TXT", b"readme"),
        ("INDEX.HTM", index),
        ("IHE_XDM/SUBSET01/METADATA.XML", metadata),
        *((f"IHE_XDM/SUBSET01/{n}", c) for n, c in documents),
    ]


def mail(
    *attachments: tuple[bytes, str, str],
    body: str = "Please find the results attached.",
    sender: str = "lis@lab.salus.test",
    to: str = "routing@salus.test",
) -> EmailMessage:
    """A mail with (content, content type, filename) attachments."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = "Résultats"
    message["Message-ID"] = "<msg-1@lab.salus.test>"
    message.set_content(body)
    for content, content_type, filename in attachments:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message
