"""Autoconfig documents and the address check, without a server."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.settings import HostPort, HttpSettings, ImapSettings, Settings, SmtpSettings
from mailserver.http.autoconfig import (
    OUTLOOK_NS,
    Endpoints,
    autodiscover_address,
    autodiscover_response,
    local_address,
    local_domain,
    thunderbird_config,
)
from mailserver.services import http_service, service_factories

DOMAINS = ("salus.test", "clinique.test")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dr.martin@salus.test", "dr.martin@salus.test"),
        ("Dr.Martin@SALUS.TEST", "Dr.Martin@salus.test"),
        ("o'neil+lab@clinique.test", "o'neil+lab@clinique.test"),
        ("a@gmail.test", None),
        ("a@salus.test.evil.test", None),
        ("a@@salus.test", None),
        ("@salus.test", None),
        (".a@salus.test", None),
        ("a..b@salus.test", None),
        ('"a b"@salus.test', None),
        ("a<b>@salus.test", None),
        ("a@salus.test\n", None),
        ("x" * 65 + "@salus.test", None),
    ],
)
def test_local_address(text: str, expected: str | None) -> None:
    assert local_address(text, DOMAINS) == expected


def test_local_domain_from_host() -> None:
    assert local_domain("autoconfig.salus.test", DOMAINS) == "salus.test"
    assert local_domain("Clinique.test.", DOMAINS) == "clinique.test"
    assert local_domain("autoconfig.evil.test", DOMAINS) is None


@given(st.text(max_size=80))
def test_any_accepted_address_has_only_safe_characters(text: str) -> None:
    address = local_address(text, DOMAINS)
    if address is not None:
        assert not set(address) & set('<>"\\ \r\n\t\x00')
        assert address.endswith(DOMAINS)


def test_endpoints_prefer_public_ports(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        imap=ImapSettings(listen_tls=HostPort("0.0.0.0", 993)),
        smtp=SmtpSettings(submissions=HostPort("0.0.0.0", 465)),
    )
    assert (
        Endpoints.from_settings(settings).imap_port,
        Endpoints.from_settings(settings).submission_port,
    ) == (993, 465)
    public = Settings(
        data_dir=tmp_path, http=HttpSettings(public_imap_port=10993, public_submission_port=10465)
    )
    assert Endpoints.from_settings(public).imap_port == 10993
    assert Endpoints.from_settings(public).submission_port == 10465


ENDPOINTS = Endpoints("mail.salus.test", 993, 465, DOMAINS)


def test_thunderbird_document_shape() -> None:
    root = ET.fromstring(thunderbird_config(ENDPOINTS, "salus.test", "a@salus.test"))
    assert root.findtext("emailProvider/domain") == "salus.test"
    assert [s.get("type") for s in root.iter("incomingServer")] == ["imap"]
    assert [s.get("type") for s in root.iter("outgoingServer")] == ["smtp"]


def test_autodiscover_response_escapes_the_address() -> None:
    root = ET.fromstring(autodiscover_response(ENDPOINTS, "o&b@salus.test"))
    logins = {e.text for e in root.iter(f"{{{OUTLOOK_NS}}}LoginName")}
    assert logins == {"o&b@salus.test"}


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE x><x/>",
        b"<!doctype x><x/>",
        b"<?xml version='1.0'?><!ENTITY a 'b'><x/>",
        b"",
        b"<Autodiscover xmlns='urn:other'><Request><EMailAddress>a@salus.test</EMailAddress></Request></Autodiscover>",
    ],
)
def test_autodiscover_request_refusals(body: bytes) -> None:
    with pytest.raises(ValueError):
        autodiscover_address(body)


def test_http_listener_is_the_last_service() -> None:
    # /readyz reports the listeners up because HTTP starts after them and stops before them.
    assert service_factories()[-1] is http_service
