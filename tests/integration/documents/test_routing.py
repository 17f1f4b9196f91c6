"""Routing by the documents' national identifiers against a synthetic directory, on SQLite and
PostgreSQL, and the whole path: recognise → route → package (the pipeline's calls)."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from directory.models import Activity, Mailbox, Organisation, Practitioner
from gateway.attachments import xdm
from gateway.attachments.parties import IdScheme, Party, PartyId
from gateway.documents import DocumentLimits, inspect
from gateway.packaging import package
from gateway.routing import (
    ConsistencyRefused,
    RoutingRefused,
    check_consistency,
    resolve_recipients,
)
from storage.database import Database
from tests.unit.documents.builders import NOW, RPPS_OID, cda, mail, oru, xcn
from tests.unit.documents.builders import xdm as build_xdm

LIMITS = DocumentLimits()
ALICE, BOB, CAROL, DAVE, ERIN = (
    "801234567897",
    "801234567898",
    "801234567899",
    "801234567800",
    "801234567801",
)


@pytest.fixture
async def directory(db: Database) -> Database:
    """Alice: one personal mailbox. Bob: two personal mailboxes (one local). Carol: none, works
    at a practice with a shared mailbox. Dave: suspended. Erin: two local personal mailboxes."""
    async with db.write() as session:
        session.add_all(
            [
                Organisation(id="1000000001", name="Cabinet des Lilas", kind="practice"),
                Organisation(id="1000000002", name="Clinique Test", kind="hospital"),
                *(
                    Practitioner(
                        national_id=n, id_scheme="RPPS", first_name=f, last_name="TEST", status=s
                    )
                    for n, f, s in (
                        (ALICE, "Alice", "active"),
                        (BOB, "Bob", "active"),
                        (CAROL, "Carol", "active"),
                        (DAVE, "Dave", "suspended"),
                        (ERIN, "Erin", "active"),
                    )
                ),
            ]
        )
        await session.flush()
        session.add_all(
            [
                Activity(practitioner_id=CAROL, organisation_id="1000000001"),
                Mailbox(address="alice.test@salus.test", kind="personal", owner_id=ALICE),
                Mailbox(address="bob.test@salus.test", kind="personal", owner_id=BOB),
                Mailbox(address="bob.test@other.test", kind="personal", owner_id=BOB, local=False),
                Mailbox(
                    address="secretariat@lilas.salus.test",
                    kind="practice",
                    organisation_id="1000000001",
                ),
                Mailbox(
                    address="accueil@clinique.salus.test",
                    kind="organizational",
                    organisation_id="1000000002",
                ),
                Mailbox(address="dave.test@salus.test", kind="personal", owner_id=DAVE),
                Mailbox(address="erin.a@salus.test", kind="personal", owner_id=ERIN),
                Mailbox(address="erin.b@salus.test", kind="personal", owner_id=ERIN),
                Mailbox(address="lis@lab.salus.test", kind="applicative"),
            ]
        )
    return db


async def _route(db: Database, message: EmailMessage) -> tuple[str, ...]:
    report = inspect(message, LIMITS)
    async with db.read() as session:
        return (await resolve_recipients(session, report)).addresses


async def test_oru_routes_obr16_obr28_and_prt_recipients(directory: Database) -> None:
    message = mail(
        (
            oru(obr16=xcn(ALICE), obr28=[xcn(BOB)], prt_recipients=[(CAROL, None)]),
            "application/hl7-v2",
            "lab.hl7",
        )
    )
    assert await _route(directory, message) == (
        "alice.test@salus.test",
        "bob.test@salus.test",
        "secretariat@lilas.salus.test",
    )


async def test_document_address_chooses_among_several_mailboxes(directory: Database) -> None:
    message = mail(
        (
            oru(obr16=xcn(ERIN), prt_recipients=[(ERIN, "erin.b@salus.test")]),
            "application/hl7-v2",
            "lab.hl7",
        )
    )
    with pytest.raises(RoutingRefused) as caught:
        await _route(directory, mail((oru(obr16=xcn(ERIN)), "application/hl7-v2", "lab.hl7")))
    assert caught.value.reply() == f"550 5.1.4 ambiguous recipients: {ERIN} (2 mailboxes) (lab.hl7)"
    # OBR-16 names Erin without an address; the PRT segment's address settles it.
    assert await _route(directory, message) == ("erin.b@salus.test",)
    only_prt = mail(
        (
            oru(obr16="^NO^ID", prt_recipients=[(ERIN, "erin.b@salus.test")]),
            "application/hl7-v2",
            "lab.hl7",
        )
    )
    assert await _route(directory, only_prt) == ("erin.b@salus.test",)


async def test_unknown_and_suspended_ids_are_named(directory: Database) -> None:
    message = mail(
        (
            cda(recipients=[(ALICE, RPPS_OID), ("801111111111", RPPS_OID), (DAVE, RPPS_OID)]),
            "text/xml",
            "letter.xml",
        )
    )
    with pytest.raises(RoutingRefused) as caught:
        await _route(directory, message)
    assert caught.value.reply() == (
        f"550 5.1.1 unknown recipients: 801111111111 (letter.xml), {DAVE} (suspended) (letter.xml)"
    )


async def test_foreign_ids_are_refused_by_name(directory: Database) -> None:
    message = mail(
        (cda(recipients=[("1234567893", "2.16.840.1.113883.4.6")]), "text/xml", "ccd.xml")
    )
    with pytest.raises(
        RoutingRefused,
        match=r"unknown recipients: foreign id 2\.16\.840\.1\.113883\.4\.6:1234567893",
    ):
        await _route(directory, message)


async def test_xdm_intended_recipients_by_structure_and_address(directory: Database) -> None:
    recipients = [
        Party("x", (PartyId(IdScheme.STRUCTURE, "1000000002"),), name="Clinique Test"),
        Party("x", (), address="bob.test@other.test"),
    ]
    message = mail((build_xdm(recipients=recipients), "application/zip", "IHE_XDM.ZIP"))
    assert await _route(directory, message) == (
        "accueil@clinique.salus.test",
        "bob.test@other.test",
    )


async def test_patient_recipient_is_noted_not_routed(directory: Database) -> None:
    prt = "PRT||UC||RCT^^participation|299^P^Q^^^^^^INS&1.2.250.1.213.1.4.10&ISO^L^^^INS||||||||||^^X.400^299@patient.test"
    report = inspect(
        mail((oru(obr16=xcn(ALICE), extra_segments=[prt]), "application/hl7-v2", "lab.hl7")), LIMITS
    )
    async with directory.read() as session:
        result = await resolve_recipients(session, report)
    assert result.addresses == ("alice.test@salus.test",)
    assert result.notes == (
        "lab.hl7: a patient recipient is not routed through the practitioner directory",
    )
    assert "299" not in " ".join(result.notes)


async def test_document_without_resolvable_recipient_is_refused(directory: Database) -> None:
    with pytest.raises(RoutingRefused) as caught:
        await _route(directory, mail((cda(recipients=[]), "text/xml", "letter.xml")))
    assert (
        caught.value.reply() == "550 5.6.0 letter.xml names no recipient the directory can resolve"
    )
    with pytest.raises(RoutingRefused, match="no structured document to route by"):
        await _route(directory, mail())


async def test_consistency_warn_and_refuse(directory: Database) -> None:
    report = inspect(mail((cda(), "text/xml", "r.xml")), LIMITS)
    async with directory.read() as session:
        routed = await resolve_recipients(session, report)
    assert check_consistency(["Alice.Test@salus.test"], routed, mode="refuse").consistent
    warned = check_consistency(["bob.test@salus.test"], routed, mode="warn")
    assert (warned.missing, warned.extra) == (("alice.test@salus.test",), ("bob.test@salus.test",))
    with pytest.raises(ConsistencyRefused) as caught:
        check_consistency(["bob.test@salus.test"], routed, mode="refuse")
    assert caught.value.reply() == (
        "550 5.7.1 documents name recipients not addressed: alice.test@salus.test; "
        "addressed recipients not named by the documents: bob.test@salus.test"
    )


async def test_public_samples_route_with_a_synthetic_directory(
    directory: Database, shared_fixtures: Path
) -> None:
    segur = (
        shared_fixtures
        / "hl7v2/ansforge-hl7v2-exemples/ORU_R01_vague2_INIT_message_ORU_CR_Bio_INIT_N3_SEGUR.hl7"
    ).read_bytes()
    report = inspect(mail((segur, "application/hl7-v2", "segur.hl7")), LIMITS)
    async with directory.read() as session:
        result = await resolve_recipients(session, report)
    # PRT RCT 801234567897 is Alice; OBR-16 has no id and the patient copy is not routed.
    assert result.addresses == ("alice.test@salus.test",)
    assert len(result.notes) == 2
    letter = (shared_fixtures / "cda/ansforge-testcontenucda/LDL-SES_2022.01.xml").read_bytes()
    with pytest.raises(RoutingRefused, match="unknown recipients: 801234567896 \\(LDL-SES"):
        await _route(directory, mail((letter, "text/xml", "LDL-SES_2022.01.xml")))
    toc = (shared_fixtures / "xdm/onc-ett/TOC_XDM_FULL_METADATA.ZIP").read_bytes()
    with pytest.raises(RoutingRefused, match="names no recipient"):
        await _route(directory, mail((toc, "application/zip", "TOC.ZIP")))


async def test_lab_result_end_to_end_recognise_route_package(directory: Database) -> None:
    """What the pipeline does for a lab system writing to routing@: the ordering
    practitioner gets an IHE_XDM.ZIP holding the result and its embedded CDA."""
    message = mail(
        (oru(obr16=xcn(ALICE), embedded=cda(recipients=[])), "application/hl7-v2", "ORU.hl7")
    )
    report = inspect(message, LIMITS)
    async with directory.read() as session:
        routed = await resolve_recipients(session, report)
    out = package(message, report, domain="salus.test", now=NOW)
    delivered = email.message_from_bytes(out, EmailMessage, policy=email.policy.default)
    assert routed.addresses == ("alice.test@salus.test",)
    archive = next(
        p for p in delivered.iter_attachments() if p.get_filename() == "IHE_XDM.ZIP"
    ).get_content()
    read = xdm.read(archive, xdm.XdmLimits())
    assert [r.national_id for r in read.recipients] == [ALICE]
    assert [e.mime_type for e in read.entries] == ["application/hl7-v2", "text/xml"]
