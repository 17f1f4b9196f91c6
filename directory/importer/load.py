"""Writing a batch of import entries with bulk upserts (`INSERT … ON CONFLICT DO UPDATE`
on SQLite and PostgreSQL), in the caller's transaction.

A batch first reads the stored digests of its addresses: an address with the same digest
is unchanged and not written at all; the others are upserted in foreign-key order
(organisations, practitioners, activities, mailboxes), one executemany per table, with no
ORM object per row. Fields an administrator owns (status, red list, crypto, delivery,
quota, credentials, organisation kind) are never overwritten by an import.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # untyped: only its error classes are named
from sqlalchemy import ColumnElement, Dialect, Table, func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from directory.importer.entry import Entry
from directory.models import (
    Activity,
    CryptoForm,
    DeliveryMode,
    Mailbox,
    MailboxStatus,
    Organisation,
    OrgKind,
    Practitioner,
    PractitionerStatus,
)

ORGANISATION_COLUMNS = (
    "name", "id_type", "trade_name", "address_location", "address_distribution",
    "street_number", "street_number_complement", "street_type", "street_name", "locality",
    "routing_line", "address", "postal_code", "city", "department", "country",
)  # fmt: skip
PRACTITIONER_COLUMNS = (
    "id_scheme", "civility", "first_name", "last_name", "category", "category_label",
    "profession", "profession_label", "specialty", "specialty_label",
)  # fmt: skip
MAILBOX_COLUMNS = (
    "kind", "local", "display_name", "owner_id", "organisation_id", "service",
    "dematerialisation", "source_hash",
)  # fmt: skip
_MAX_DISPLAY = 255
_LOOKUP_CHUNK = 10_000  # SQLite allows 32,766 parameters per statement
SQLITE_CACHE_KIB = 64 * 1024


@dataclass(slots=True)
class Classified:
    """A batch split by what the database already holds."""

    created: list[Entry] = field(default_factory=list)
    updated: list[Entry] = field(default_factory=list)
    unchanged: int = 0

    @property
    def to_write(self) -> list[Entry]:
        return self.created + self.updated


async def _driver(session: AsyncSession) -> tuple[str, Any]:
    """The dialect name and the driver connection (aiosqlite or asyncpg) of the session,
    with the session's transaction open on it."""
    connection = await session.connection()
    await connection.exec_driver_sql("SELECT 1")
    raw = await connection.get_raw_connection()
    return connection.dialect.name, raw.driver_connection


async def _stored_digests(session: AsyncSession, addresses: list[str]) -> dict[str, str | None]:
    dialect, driver = await _driver(session)
    stored: dict[str, str | None] = {}
    for start in range(0, len(addresses), _LOOKUP_CHUNK):
        chunk = addresses[start : start + _LOOKUP_CHUNK]
        if dialect == "postgresql":
            rows = await driver.fetch(
                "SELECT address, source_hash FROM mailboxes WHERE address = ANY($1::varchar[])",
                chunk,
            )
        else:
            marks = ",".join("?" * len(chunk))
            cursor = await driver.execute(
                f"SELECT address, source_hash FROM mailboxes WHERE address IN ({marks})",  # noqa: S608 - placeholders only
                chunk,
            )
            rows = await cursor.fetchall()
            await cursor.close()
        stored.update((address, digest) for address, digest in rows)
    return stored


async def classify(session: AsyncSession, entries: Sequence[Entry]) -> Classified:
    """Split `entries` into created, updated and unchanged by the stored digests."""
    stored = await _stored_digests(session, [e.address for e in entries])
    result = Classified()
    for entry in entries:
        if entry.address not in stored:
            result.created.append(entry)
        elif stored[entry.address] == entry.digest:
            result.unchanged += 1
        else:
            result.updated.append(entry)
    return result


def _upsert(dialect: str, table: Table, keys: Sequence[str], columns: Iterable[str]) -> Any:
    """INSERT … ON CONFLICT (keys) DO UPDATE the columns that differ, stamping times."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = func.now()
    statement = insert(table).values(created_at=now, updated_at=now)
    names = list(columns)
    changed: list[ColumnElement[bool]] = [
        table.c[name].is_distinct_from(statement.excluded[name]) for name in names
    ]
    return statement.on_conflict_do_update(
        index_elements=[table.c[k] for k in keys],
        set_={**{name: statement.excluded[name] for name in names}, "updated_at": now},
        where=or_(*changed),
    )


def _organisation_rows(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for entry in entries:
        org = entry.organisation
        if org is not None:
            rows[org.id] = {
                "id": org.id, "name": org.name, "id_type": org.id_type,
                "trade_name": org.trade_name, "address_location": org.address_location,
                "address_distribution": org.address_distribution,
                "street_number": org.street_number,
                "street_number_complement": org.street_number_complement,
                "street_type": org.street_type, "street_name": org.street_name,
                "locality": org.locality, "routing_line": org.routing_line,
                "address": org.address, "postal_code": org.postal_code, "city": org.city,
                "department": org.department, "country": org.country,
            }  # fmt: skip
    return list(rows.values())


def _practitioner_rows(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for entry in entries:
        p = entry.practitioner
        if p is not None:
            rows[p.national_id] = {
                "national_id": p.national_id, "id_scheme": p.id_scheme, "civility": p.civility,
                "first_name": p.first_name, "last_name": p.last_name, "category": p.category,
                "category_label": p.category_label, "profession": p.profession,
                "profession_label": p.profession_label, "specialty": p.specialty,
                "specialty_label": p.specialty_label,
            }  # fmt: skip
    return list(rows.values())


def _activity_rows(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    pairs = {
        (e.practitioner.national_id, e.organisation.id)
        for e in entries
        if e.practitioner is not None and e.organisation is not None
    }
    return [{"practitioner_id": p, "organisation_id": o} for p, o in sorted(pairs)]


def _mailbox_rows(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    return [
        {
            "address": e.address,
            "kind": e.kind,
            "local": e.local,
            "display_name": e.display_name[:_MAX_DISPLAY],
            "owner_id": e.practitioner.national_id if e.practitioner else None,
            "organisation_id": e.organisation.id if e.organisation else None,
            "service": e.service,
            "dematerialisation": e.dematerialisation,
            "source_hash": e.digest,
        }
        for e in entries
    ]


# Columns an import sets on insert only; later imports leave them to the administrator.
_INSERT_ONLY: dict[str, dict[str, Any]] = {
    "organisations": {"kind": OrgKind.OTHER.value},
    "practitioners": {"status": PractitionerStatus.ACTIVE.value},
    "activities": {"role": ""},
    "mailboxes": {
        "status": MailboxStatus.ACTIVE.value,
        "red_list": False,
        "crypto": CryptoForm.SMIME.value,
        "delivery": DeliveryMode.CLIENT_DECRYPT.value,
    },
}
_ROWS: tuple[tuple[str, Callable[[Iterable[Entry]], list[dict[str, Any]]]], ...] = (
    ("organisations", _organisation_rows),
    ("practitioners", _practitioner_rows),
    ("activities", _activity_rows),
    ("mailboxes", _mailbox_rows),
)


_SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "organisations": itemgetter("id"),
    "practitioners": itemgetter("national_id"),
    "activities": itemgetter("practitioner_id", "organisation_id"),
    "mailboxes": itemgetter("address"),
}


class BatchRefused(Exception):
    """The database refused a batch (a constraint, a full disk): it is rolled back."""


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A statement compiled once, and how to lay a row dict out as its parameters."""

    sql: str
    parameters: Callable[[dict[str, Any]], tuple[Any, ...]]


def _statement(dialect: str, table: str) -> Any:
    if table == "activities":
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        return insert(Activity.__table__).on_conflict_do_nothing(  # type: ignore[arg-type]
            index_elements=[Activity.practitioner_id, Activity.organisation_id]
        )
    model, key, columns = {
        "organisations": (Organisation, "id", ORGANISATION_COLUMNS),
        "practitioners": (Practitioner, "national_id", PRACTITIONER_COLUMNS),
        "mailboxes": (Mailbox, "address", MAILBOX_COLUMNS),
    }[table]
    return _upsert(dialect, model.__table__, [key], columns)  # type: ignore[arg-type]


_PREPARED: dict[tuple[str, str, tuple[str, ...]], _Prepared] = {}


def _prepared(dialect: Dialect, table: str, keys: tuple[str, ...]) -> _Prepared:
    """The statement for `table` on this dialect, compiled on first use."""
    cache_key = (dialect.name, table, keys)
    if cache_key not in _PREPARED:
        _PREPARED[cache_key] = _compile(dialect, table, keys)
    return _PREPARED[cache_key]


def _compile(dialect: Dialect, table: str, keys: tuple[str, ...]) -> _Prepared:
    compiled = _statement(dialect.name, table).inline().compile(dialect=dialect, column_keys=keys)
    order = compiled.positiontup or []
    if set(order) != set(keys):  # every parameter must come from the row, none from a default
        raise ValueError(f"{table}: parameters {order} do not match the row keys {keys}")
    getter = itemgetter(*order)
    return _Prepared(str(compiled), lambda row: tuple(getter(row)))


async def _executemany(driver: Any, prepared: _Prepared, rows: list[dict[str, Any]]) -> None:
    try:
        await driver.executemany(prepared.sql, [prepared.parameters(row) for row in rows])
    except (sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise BatchRefused(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc


class RecentRows:
    """The rows an import has written lately, by table and key, to skip writing them
    again: an organisation named by thousands of rows is written once, not once per
    batch. Bounded (least recently seen forgotten first), so memory stays flat."""

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[tuple[str, str], int] = OrderedDict()

    def fresh(self, table: str, key: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows not written identically in this import, and remember them."""
        result = []
        for row in rows:
            mark, fingerprint = (table, row[key]), hash(tuple(row.values()))
            if self._seen.get(mark) == fingerprint:
                self._seen.move_to_end(mark)
                continue
            self._seen[mark] = fingerprint
            self._seen.move_to_end(mark)
            result.append(row)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return result


async def write(
    session: AsyncSession, entries: Sequence[Entry], recent: RecentRows | None = None
) -> None:
    """Upsert `entries` (distinct addresses) and what they name, in the session's
    transaction; organisations already written by this import (`recent`) are skipped.
    The rows go straight to the driver's executemany (SQLAlchemy's per-row parameter
    processing would double the cost of a large import)."""
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        # The default page cache (2 MiB) is much smaller than the indexes a national
        # file builds; with 64 MiB the index pages an import touches stay in memory.
        await connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    _, driver = await _driver(session)
    for table, make_rows in _ROWS:
        rows = make_rows(entries)
        if table == "organisations" and recent is not None:
            rows = recent.fresh(table, "id", rows)
        if rows:
            rows.sort(key=_SORT_KEYS[table])  # B-tree inserts in key order touch fewer pages
            defaults = _INSERT_ONLY[table]
            rows = [row | defaults for row in rows]
            prepared = _prepared(connection.dialect, table, tuple(rows[0]))
            await _executemany(driver, prepared, rows)
