"""Export of the directory in the import formats (MSSanté extraction or plain CSV),
streamed page by page so that memory stays flat. Red-listed mailboxes are left out unless
asked for: the red list means "not published"."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from typing import TextIO

from sqlalchemy import select

from directory.importer import csv_format, mssante
from directory.importer.entry import Entry, OrganisationFields, PractitionerFields
from directory.models import BAL_TYPE_OF, Mailbox, Organisation, Practitioner
from storage.database import Database

PAGE = 2000


def practitioner_fields(p: Practitioner) -> PractitionerFields:
    return PractitionerFields(
        national_id=p.national_id, id_scheme=p.id_scheme, civility=p.civility,
        last_name=p.last_name, first_name=p.first_name, category=p.category,
        category_label=p.category_label, profession=p.profession,
        profession_label=p.profession_label, specialty=p.specialty,
        specialty_label=p.specialty_label,
    )  # fmt: skip


def organisation_fields(o: Organisation) -> OrganisationFields:
    return OrganisationFields(
        id=o.id, id_type=o.id_type, name=o.name, trade_name=o.trade_name,
        address_location=o.address_location, address_distribution=o.address_distribution,
        street_number=o.street_number, street_number_complement=o.street_number_complement,
        street_type=o.street_type, street_name=o.street_name, locality=o.locality,
        routing_line=o.routing_line, postal_code=o.postal_code, department=o.department,
        country=o.country,
    )  # fmt: skip


def mssante_values(entry: Entry) -> list[str]:
    """The 31 columns of the extraction file for `entry`."""
    p, o = entry.practitioner, entry.organisation
    person = [p.national_id[:1], p.national_id[1:], p.national_id] if p else ["", "", ""]
    details = (
        [p.civility, p.last_name, p.first_name, p.category, p.category_label, p.profession,
         p.profession_label, p.specialty, p.specialty_label]
        if p
        else [""] * 9
    )  # fmt: skip
    structure = (
        [o.name if o.name != o.id else "", o.trade_name, o.address_location,
         o.address_distribution, o.street_number, o.street_number_complement, o.street_type,
         o.street_name, o.locality, o.routing_line, o.postal_code, o.department, o.country]
        if o
        else [""] * 13
    )  # fmt: skip
    return [
        BAL_TYPE_OF[entry.kind], entry.address, *person,
        o.id_type if o else "", o.id if o else "", entry.service, *details,
        entry.dematerialisation, *structure,
    ]  # fmt: skip


def csv_values(entry: Entry) -> list[str]:
    """The CSV columns (`csv_format.COLUMNS`) for `entry`."""
    p, o = entry.practitioner, entry.organisation
    return [
        BAL_TYPE_OF[entry.kind], entry.address, p.national_id if p else "",
        p.civility if p else "", p.last_name if p else "", p.first_name if p else "",
        p.profession if p else "", p.specialty if p else "", o.id if o else "",
        o.name if o else "", entry.service,
    ]  # fmt: skip


def _entry(m: Mailbox, p: Practitioner | None, o: Organisation | None) -> Entry:
    return Entry(
        line=0,
        address=m.address,
        kind=m.kind,
        local=m.local,
        display_name=m.display_name,
        service=m.service,
        dematerialisation=m.dematerialisation,
        practitioner=practitioner_fields(p) if p else None,
        organisation=organisation_fields(o) if o else None,
    )


def _render(file_format: str, rows: Sequence[Entry]) -> str:
    if file_format == "mssante":
        return "".join(mssante.format_line(mssante_values(e)) + "\n" for e in rows)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(csv_values(e) for e in rows)
    return buffer.getvalue()


def header(file_format: str) -> str:
    if file_format == "mssante":
        return mssante.SEPARATOR.join(mssante.HEADER) + "\n"
    return ",".join(csv_format.COLUMNS) + "\n"


async def export(
    db: Database, out: TextIO, *, file_format: str, include_red_list: bool = False
) -> int:
    """Write the directory to `out`; return the number of mailboxes written."""
    await asyncio.to_thread(out.write, header(file_format))
    last, count = 0, 0
    while True:
        query = (
            select(Mailbox, Practitioner, Organisation)
            .outerjoin(Practitioner, Mailbox.owner_id == Practitioner.national_id)
            .outerjoin(Organisation, Mailbox.organisation_id == Organisation.id)
            .where(Mailbox.id > last)
            .order_by(Mailbox.id)
            .limit(PAGE)
        )
        if not include_red_list:
            query = query.where(Mailbox.red_list.is_(False))
        async with db.read() as session:
            rows = (await session.execute(query)).all()
        if not rows:
            return count
        await asyncio.to_thread(out.write, _render(file_format, [_entry(*row) for row in rows]))
        count += len(rows)
        last = rows[-1][0].id
