"""The lookup's key document and the checks a sender makes before encrypting to it."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from crypto import openpgp, profiles
from gateway.trust.remote_keys import (
    MAX_DOCUMENT_BYTES,
    KeyRefused,
    LookupUnavailable,
    NoPublishedKey,
    RemoteKeys,
    check,
    parse,
    render,
)
from tests.unit.trust.pki import NOW, Made, ca

ROOT_B = ca("Root B")
OTHER = ca("Other root")
ADDRESS = "doctor.2@b.test"


def mailbox_chain(issuer: Made, address: str, *, at: dt.datetime = NOW) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = profiles.mailbox_certificate(
        profiles.Issuer(issuer.cert, issuer.key), key.public_key(), address, "Dr B", at
    )
    return cert.public_bytes(serialization.Encoding.PEM) + issuer.pem


def keys(chain: bytes, crypto: str = "smime", public: str = "ARMOR") -> RemoteKeys:
    return RemoteKeys(ADDRESS, crypto, chain, public)


def test_render_and_parse_round_trip() -> None:
    made = keys(b"-----BEGIN CERTIFICATE-----\n...", "smime-gcm")
    assert parse(render(made), ADDRESS.upper()) == made


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"version": 2}).encode(),
        json.dumps({"version": 1, "address": ADDRESS}).encode(),
        render(RemoteKeys("someone.else@b.test", "smime", b"C", "K")),
        render(RemoteKeys(ADDRESS, "rot13", b"C", "K")),
        b"{" + b" " * MAX_DOCUMENT_BYTES + b"}",
    ],
)
def test_malformed_documents_are_refused(body: bytes) -> None:
    with pytest.raises(KeyRefused):
        parse(body, ADDRESS)


def test_a_certificate_of_the_peers_ca_for_the_address_is_accepted() -> None:
    check(keys(mailbox_chain(ROOT_B, ADDRESS)), [ROOT_B.cert], NOW)


def test_a_certificate_of_another_ca_is_refused() -> None:
    with pytest.raises(KeyRefused, match=re.escape("published by b.test is refused")):
        check(keys(mailbox_chain(OTHER, ADDRESS)), [ROOT_B.cert], NOW)


def test_a_certificate_for_another_address_is_refused() -> None:
    with pytest.raises(KeyRefused, match=re.escape("not for doctor.2@b.test")):
        check(keys(mailbox_chain(ROOT_B, "doctor.9@b.test")), [ROOT_B.cert], NOW)


def test_an_expired_certificate_is_refused() -> None:
    old = mailbox_chain(ROOT_B, ADDRESS, at=NOW - dt.timedelta(days=4 * 365))
    with pytest.raises(KeyRefused, match="expired"):
        check(keys(old), [ROOT_B.cert], NOW)


def test_the_openpgp_key_is_checked_when_it_is_the_form_asked_for() -> None:
    chain = mailbox_chain(ROOT_B, ADDRESS)
    with pytest.raises(KeyRefused, match="cannot be read"):
        check(keys(chain, "openpgp", "garbage"), [ROOT_B.cert], NOW)
    _, foreign = openpgp.generate_key("someone@b.test", "Someone")
    with pytest.raises(KeyRefused, match="not certified for the address"):
        check(keys(chain, "openpgp", foreign), [ROOT_B.cert], dt.datetime.now(dt.UTC))
    _, public = openpgp.generate_key(ADDRESS, "Dr B")
    check(keys(chain, "openpgp", public), [ROOT_B.cert], dt.datetime.now(dt.UTC))


def test_failures_say_whether_to_retry() -> None:
    assert NoPublishedKey(ADDRESS, "gone").reply() == f"550 5.1.1 <{ADDRESS}>: gone"
    assert KeyRefused(ADDRESS, "bad").reply() == f"550 5.7.1 <{ADDRESS}>: bad"
    unavailable = LookupUnavailable(ADDRESS, "later")
    assert unavailable.temporary and unavailable.reply().startswith("451 4.4.3")
