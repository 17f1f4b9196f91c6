"""Recipients from documents: national identifiers resolved through the directory.

A message to the routing address (DESIGN section 6) is addressed by its documents. Each
recipient a document names is resolved in this order: a practitioner national id → the
practitioner's active personal mailbox (the one the document's own address names, else the
only one, else the only local one), or else their organisation's shared mailbox; a
structure id → that organisation's shared mailbox; an address alone → that mailbox.
Patients are not served through the practitioner directory and are noted, not routed.
Unknown, suspended or ambiguous identifiers refuse the message with the identifiers named;
so does a document whose recipients all fail to resolve.

`check_consistency` compares explicit envelope recipients with the documents' recipients
(settings.gateway.consistency: "warn" and "hold" return the differences, "refuse" raises;
the submission handler holds the message's deliveries in "hold" mode).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from directory import repository
from directory.models import Activity, Mailbox, MailboxKind, MailboxStatus, PractitionerStatus
from gateway.attachments.parties import IdScheme, Party
from gateway.documents import Document, DocumentReport

_SHARED_KINDS = (MailboxKind.ORGANIZATIONAL.value, MailboxKind.PRACTICE.value)


class RoutingRefused(Exception):
    """The documents' recipients cannot all be resolved; renders an SMTP refusal."""

    smtp_code = 550

    def __init__(self, reason: str, *, status: str = "5.1.1") -> None:
        self.reason = reason
        self.status = status  # 5.1.1 unknown, 5.1.4 ambiguous, 5.6.0 nothing to route by
        super().__init__(reason)

    def reply(self) -> str:
        return f"{self.smtp_code} {self.status} {self.reason}"[:500]


@dataclass(frozen=True, slots=True)
class RoutedRecipient:
    address: str
    mailbox_id: int
    national_id: str | None
    documents: tuple[str, ...]  # file names of the documents that name this recipient


@dataclass(frozen=True, slots=True)
class RoutingResult:
    recipients: tuple[RoutedRecipient, ...]
    notes: tuple[str, ...] = ()  # recipients named but not routed, and why

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(r.address for r in self.recipients)


@dataclass(frozen=True, slots=True)
class ConsistencyReport:
    missing: tuple[str, ...] = ()  # named by the documents, not addressed
    extra: tuple[str, ...] = ()  # addressed, not named by any document

    @property
    def consistent(self) -> bool:
        return not self.missing and not self.extra

    def describe(self) -> str:
        parts = []
        if self.missing:
            parts.append("documents name recipients not addressed: " + ", ".join(self.missing))
        if self.extra:
            parts.append(
                "addressed recipients not named by the documents: " + ", ".join(self.extra)
            )
        return "; ".join(parts)


class ConsistencyRefused(Exception):
    smtp_code = 550
    status = "5.7.1"

    def __init__(self, report: ConsistencyReport) -> None:
        self.report = report
        super().__init__(report.describe())

    def reply(self) -> str:
        return f"{self.smtp_code} {self.status} {self.report.describe()}"[:500]


@dataclass
class _Outcome:
    mailbox: Mailbox | None = None
    unknown: str | None = None
    ambiguous: str | None = None
    note: str | None = None


@dataclass
class _Collected:
    routed: dict[str, tuple[Mailbox, str | None, list[str]]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def resolve_recipients(session: AsyncSession, report: DocumentReport) -> RoutingResult:
    """Resolve every document's recipients; raise RoutingRefused naming what fails."""
    if not report.documents:
        raise RoutingRefused(
            "no structured document to route by (HL7 v2, CDA R2 or IHE XDM)", status="5.6.0"
        )
    found = _Collected()
    for document in report.documents:
        if not await _resolve_document(session, document, found):
            raise RoutingRefused(
                f"{document.filename} names no recipient the directory can resolve"
                f"{_notes_suffix(found.notes)}",
                status="5.6.0",
            )
    if found.unknown or found.ambiguous:
        raise RoutingRefused(_failure_text(found), status="5.1.1" if found.unknown else "5.1.4")
    recipients = tuple(
        RoutedRecipient(m.address, m.id, nid, tuple(dict.fromkeys(docs)))
        for m, nid, docs in found.routed.values()
    )
    return RoutingResult(recipients, tuple(dict.fromkeys(found.notes)))


def check_consistency(
    explicit_rcpts: Iterable[str], routed: RoutingResult | Sequence[str], *, mode: str
) -> ConsistencyReport:
    """Compare envelope recipients with the documents' ones; "refuse" raises on a difference."""
    named = routed.addresses if isinstance(routed, RoutingResult) else tuple(routed)
    wanted = {a.strip().lower() for a in named}
    given = {a.strip().lower() for a in explicit_rcpts}
    report = ConsistencyReport(tuple(sorted(wanted - given)), tuple(sorted(given - wanted)))
    if mode == "refuse" and not report.consistent:
        raise ConsistencyRefused(report)
    return report


async def _resolve_document(session: AsyncSession, document: Document, found: _Collected) -> bool:
    """Resolve one document's recipients into `found`; False if none was routed or refused."""
    acted = False
    for party in _merged(document.recipients):
        outcome = await _resolve_party(session, party)
        if outcome.mailbox is not None:
            mailbox = outcome.mailbox
            entry = found.routed.setdefault(mailbox.address, (mailbox, party.national_id, []))
            entry[2].append(document.filename)
        elif outcome.unknown:
            found.unknown.append(f"{outcome.unknown} ({document.filename})")
        elif outcome.ambiguous:
            found.ambiguous.append(f"{outcome.ambiguous} ({document.filename})")
        else:
            found.notes.append(f"{document.filename}: {outcome.note}")
            continue
        acted = True
    return acted


def _merged(parties: Sequence[Party]) -> list[Party]:
    """One party per national id, carrying an address any of its mentions gives."""
    by_id: dict[str, Party] = {}
    others: list[Party] = []
    for party in parties:
        key = party.national_id
        if key is None:
            others.append(party)
        elif key not in by_id or (party.address and not by_id[key].address):
            by_id[key] = party
    return [*by_id.values(), *others]


async def _resolve_party(session: AsyncSession, party: Party) -> _Outcome:
    if party.national_id:
        return await _by_practitioner(session, party, party.national_id)
    if party.is_patient:
        return _Outcome(note="a patient recipient is not routed through the practitioner directory")
    if party.structure_id:
        return await _by_organisation(session, party, party.structure_id)
    if party.address:
        return await _by_address(session, party.address)
    if any(i.scheme is IdScheme.FOREIGN for i in party.ids):
        return _Outcome(unknown=party.label())
    return _Outcome(note=f"{party.label()} is not routed")


async def _by_practitioner(session: AsyncSession, party: Party, national_id: str) -> _Outcome:
    practitioner = await repository.practitioner(session, national_id)
    if practitioner is None:
        return _Outcome(unknown=national_id)
    if practitioner.status != PractitionerStatus.ACTIVE.value:
        return _Outcome(unknown=f"{national_id} (suspended)")
    mailboxes = [
        m
        for m in await repository.mailboxes_of_practitioner(session, national_id)
        if m.status == MailboxStatus.ACTIVE.value
    ]
    personal = [m for m in mailboxes if m.kind == MailboxKind.PERSONAL.value]
    chosen = _choose(personal, party.address)
    if chosen is not None:
        return chosen
    organisations = (
        (
            await session.execute(
                select(Activity.organisation_id).where(
                    Activity.practitioner_id == practitioner.national_id
                )
            )
        )
        .scalars()
        .all()
    )
    shared = await _shared_mailboxes(session, list(organisations))
    return _choose(shared, party.address) or _Outcome(unknown=f"{national_id} (no active mailbox)")


async def _by_organisation(session: AsyncSession, party: Party, structure_id: str) -> _Outcome:
    shared = await _shared_mailboxes(session, [structure_id])
    return _choose(shared, party.address) or _Outcome(unknown=f"structure {structure_id}")


async def _by_address(session: AsyncSession, address: str) -> _Outcome:
    mailbox = await repository.mailbox_by_address(session, address)
    if mailbox is None or mailbox.status != MailboxStatus.ACTIVE.value:
        return _Outcome(unknown=address)
    return _Outcome(mailbox=mailbox)


async def _shared_mailboxes(session: AsyncSession, organisation_ids: list[str]) -> list[Mailbox]:
    if not organisation_ids:
        return []
    result = await session.execute(
        select(Mailbox)
        .where(
            Mailbox.organisation_id.in_(organisation_ids),
            Mailbox.owner_id.is_(None),
            Mailbox.kind.in_(_SHARED_KINDS),
            Mailbox.status == MailboxStatus.ACTIVE.value,
        )
        .order_by(Mailbox.address)
    )
    return list(result.scalars())


def _choose(candidates: list[Mailbox], address: str | None) -> _Outcome | None:
    """The one candidate: the document's address, else the only one, else the only local one."""
    if not candidates:
        return None
    named = [m for m in candidates if address and m.address == address.lower()]
    local = [m for m in candidates if m.local]
    for pick in (named, candidates, local):
        if len(pick) == 1:
            return _Outcome(mailbox=pick[0])
    owner = candidates[0].owner_id or candidates[0].organisation_id or "?"
    return _Outcome(ambiguous=f"{owner} ({len(candidates)} mailboxes)")


def _failure_text(found: _Collected) -> str:
    parts = []
    if found.unknown:
        parts.append("unknown recipients: " + ", ".join(dict.fromkeys(found.unknown)))
    if found.ambiguous:
        parts.append("ambiguous recipients: " + ", ".join(dict.fromkeys(found.ambiguous)))
    return "; ".join(parts)


def _notes_suffix(notes: list[str]) -> str:
    return f" ({'; '.join(notes[-3:])})" if notes else ""
