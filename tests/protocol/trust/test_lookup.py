"""The certificate lookup between two operators on loopback: B's `lookup.listen` over
mutual TLS, A's LookupClient asking for B's mailboxes (DESIGN section 5.8)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from cryptography import x509

from crypto.validation import email_addresses
from gateway.trust.remote_keys import KeyRefused, LookupUnavailable, NoPublishedKey
from mailserver.lookup.listener import LookupService
from tests.integration.trust.operators import (
    KEYLESS,
    RED_LISTED,
    SUSPENDED,
    doctor,
    operators,
)


async def test_a_gets_the_keys_of_a_mailbox_at_b(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.start("lookup", LookupService)
        await a.trust(b)
        await b.trust(a)
        keys = await a.runtime.key_lookup.keys(doctor(2, "b.test").upper())
        assert keys.address == doctor(2, "b.test")
        assert keys.crypto == "smime"
        chain = x509.load_pem_x509_certificates(keys.certificate_chain_pem)
        assert email_addresses(chain[0]) == (doctor(2, "b.test"),)
        assert "Salus Issuing CA b.test" in chain[1].subject.rfc4514_string()
        assert keys.openpgp_public.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        entries = await b.audit("lookup.mailbox")
        assert [(e.actor, e.object, e.result) for e in entries] == [
            ("peer:a.test", doctor(2, "b.test"), "published")
        ]


async def test_nothing_is_published_for_unknown_suspended_or_keyless_mailboxes(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.start("lookup", LookupService)
        await a.trust(b)
        await b.trust(a)
        for address in (
            doctor(SUSPENDED, "b.test"),
            doctor(KEYLESS, "b.test"),
            "nobody@b.test",
        ):
            with pytest.raises(NoPublishedKey) as refused:
                await a.runtime.key_lookup.keys(address)
            assert refused.value.reply().startswith(f"550 5.1.1 <{address}>")
        # Red-listed mailboxes are unpublished in listings, but an exact address is answered.
        red = await a.runtime.key_lookup.keys(doctor(RED_LISTED, "b.test"))
        assert red.address == doctor(RED_LISTED, "b.test")
        results = [(e.object, e.result) for e in await b.audit("lookup.mailbox")]
        assert results == [
            (doctor(SUSPENDED, "b.test"), "not-published"),
            (doctor(KEYLESS, "b.test"), "not-published"),
            ("nobody@b.test", "not-published"),
            (doctor(RED_LISTED, "b.test"), "published"),
        ]


async def test_answers_are_cached_for_the_configured_time(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.start("lookup", LookupService)
        await a.trust(b)
        await b.trust(a)
        for _ in range(3):
            await a.runtime.key_lookup.keys(doctor(1, "b.test"))
        assert len(await b.audit("lookup.mailbox")) == 1
        a.runtime.key_lookup.forget(doctor(1, "b.test"))
        await a.runtime.key_lookup.keys(doctor(1, "b.test"))
        assert len(await b.audit("lookup.mailbox")) == 2
        # A refusal is remembered too (for a shorter time), and so is its reason.
        for _ in range(2):
            with pytest.raises(NoPublishedKey):
                await a.runtime.key_lookup.keys("nobody@b.test")
        assert len(await b.audit("lookup.mailbox")) == 3
        # Concurrent questions about one address share one request.
        await asyncio.gather(*(a.runtime.key_lookup.keys(doctor(2, "b.test")) for _ in range(5)))
        assert len(await b.audit("lookup.mailbox")) == 4


async def test_a_domain_outside_the_trust_list_is_not_asked(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.start("lookup", LookupService)
        await b.trust(a)
        with pytest.raises(KeyRefused) as refused:
            await a.runtime.key_lookup.keys(doctor(1, "b.test"))
        assert "not in the trust space" in refused.value.reason
        assert await b.audit("lookup.mailbox") == []


async def test_b_refuses_an_operator_it_does_not_trust(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.start("lookup", LookupService)
        await a.trust(b)  # A trusts B, but B does not know A
        with pytest.raises(LookupUnavailable) as refused:
            await a.runtime.key_lookup.keys(doctor(1, "b.test"))
        assert refused.value.reply().startswith("451 4.4.3")
        assert await b.audit("lookup.mailbox") == []


async def test_a_lookup_answering_with_another_cas_certificate_is_not_believed(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(
        operator_templates, tmp_path, domains=("a.test", "b.test", "c.test")
    ) as ops:
        a, b, c = ops["a.test"], ops["b.test"], ops["c.test"]
        await c.start("lookup", LookupService)
        await c.trust(a)
        # A believes b.test's lookup is at C's address (a hijacked route): C's certificate
        # does not chain to B's CA, so A learns nothing from it.
        await a.trust(b, lookup=_at(c.port("lookup")))
        with pytest.raises(LookupUnavailable):
            await a.runtime.key_lookup.keys(doctor(1, "b.test"))
        assert await c.audit("lookup.mailbox") == []


async def test_a_peer_certificate_for_another_domain_is_refused(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(
        operator_templates, tmp_path, domains=("a.test", "b.test", "c.test")
    ) as ops:
        a, b, c = ops["a.test"], ops["b.test"], ops["c.test"]
        await c.start("lookup", LookupService)
        await c.trust(a)
        # A registered C's CA for b.test and points at C: the chain holds, but C's
        # certificate names hosts under c.test, not b.test.
        await a.trust(b, ca_pem=c.ca_chain(), lookup=_at(c.port("lookup")))
        with pytest.raises(LookupUnavailable) as refused:
            await a.runtime.key_lookup.keys(doctor(1, "b.test"))
        assert "b.test" in refused.value.reason
        assert await c.audit("lookup.mailbox") == []


def _at(port: int) -> object:
    from config.settings import HostPort  # noqa: PLC0415

    return HostPort("127.0.0.1", port)


def test_the_document_is_json(tmp_path: Path) -> None:
    from gateway.trust.remote_keys import RemoteKeys, parse, render  # noqa: PLC0415

    keys = RemoteKeys("x@b.test", "openpgp", b"PEM", "ARMOR")
    assert json.loads(render(keys))["crypto"] == "openpgp"
    assert parse(render(keys), "X@B.TEST") == keys
