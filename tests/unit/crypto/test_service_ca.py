"""The service CA in a data dir: files and permissions, never replaced, opened only
with the service key; the TLS certificate's key opens with the derived password."""

from __future__ import annotations

import datetime as dt
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from crypto import ca as service_ca
from crypto import rotation, tls_certificate
from crypto.errors import CaError
from crypto.sealing import KeySealer
from crypto.service_key import ServiceKey
from crypto.validation import Usage, validate

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("data")
    key = ServiceKey(b"\x07" * 32)
    (directory / "keys").mkdir(mode=0o700)
    (directory / "keys" / "service.key").write_bytes(key.secret)
    (directory / "keys" / "service.key").chmod(0o600)
    ca = service_ca.ServiceCa.create(directory, KeySealer(key), "salus.test", NOW)
    tls_certificate.create(
        directory, ca, key, hostname="mail.salus.test", domain="salus.test", now=NOW
    )
    return directory


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_files_and_permissions(data_dir: Path) -> None:
    paths = service_ca.CaPaths.of(data_dir)
    assert _mode(paths.root_key) == 0o600 and _mode(paths.issuing_key) == 0o600
    assert _mode(paths.root_cert) == 0o644 and _mode(paths.issuing_cert) == 0o644
    assert b"PRIVATE KEY" not in paths.root_key.read_bytes()
    root, issuing = service_ca.load_chain(data_dir)
    assert isinstance(root.public_key(), rsa.RSAPublicKey) and root.public_key().key_size == 4096
    assert issuing.public_key().key_size == 3072  # type: ignore[union-attr]
    assert service_ca.export_chain(data_dir) == service_ca.pem(issuing) + service_ca.pem(root)


def test_the_ca_is_never_replaced(data_dir: Path) -> None:
    with pytest.raises(CaError, match="never replaced"):
        service_ca.ServiceCa.create(
            data_dir, KeySealer(ServiceKey(b"\x07" * 32)), "salus.test", NOW
        )


def test_the_ca_opens_only_with_its_service_key(data_dir: Path) -> None:
    service_ca.ServiceCa.load(data_dir, KeySealer(ServiceKey(b"\x07" * 32)))
    with pytest.raises(CaError, match="not available"):
        service_ca.ServiceCa.load(data_dir, KeySealer(ServiceKey(b"\x08" * 32)))


def test_a_mailbox_certificate_chains_to_the_root(data_dir: Path) -> None:
    ca = service_ca.ServiceCa.load(data_dir, KeySealer(ServiceKey(b"\x07" * 32)))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = ca.issue_mailbox(key.public_key(), "alice@salus.test", "Alice Martin", NOW)
    path = validate(
        cert,
        anchors=[ca.root],
        intermediates=[ca.issuing],
        at=NOW,
        usage=Usage.ENCRYPT,
        address="alice@salus.test",
    )
    assert path[-1] == ca.root


def test_tls_certificate_for_server_and_client_auth(data_dir: Path) -> None:
    chain = x509.load_pem_x509_certificates(tls_certificate.cert_path(data_dir).read_bytes())
    leaf = chain[0]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {x509.ExtendedKeyUsageOID.SERVER_AUTH, x509.ExtendedKeyUsageOID.CLIENT_AUTH}
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["mail.salus.test", "salus.test"]
    assert chain[1] == service_ca.load_chain(data_dir)[1]
    assert _mode(tls_certificate.key_path(data_dir)) == 0o600


def test_the_tls_key_opens_with_the_derived_password_only(data_dir: Path) -> None:
    key_file = tls_certificate.key_path(data_dir)
    right = ServiceKey(b"\x07" * 32)
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(key_file.read_bytes(), None)
    password = tls_certificate.key_password(key_file, [ServiceKey(b"\x09" * 32), right])
    assert password == tls_certificate.password_for(right)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_certificate.cert_path(data_dir), key_file, password)


def test_rotation_reseals_ca_and_tls_keys(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir(mode=0o700)
    key_file = tmp_path / "keys" / "service.key"
    old = ServiceKey(b"\x03" * 32)
    key_file.write_bytes(old.secret)
    key_file.chmod(0o600)
    ca = service_ca.ServiceCa.create(tmp_path, KeySealer(old), "salus.test", NOW)
    tls_certificate.create(
        tmp_path, ca, old, hostname="mail.salus.test", domain="salus.test", now=NOW
    )
    sealer = rotation.rotate_key_file(key_file)
    assert sealer.current != old and sealer.previous == (old,)
    assert (tmp_path / "keys" / f"service.key.{old.key_id.hex()}").read_bytes() == old.secret
    assert rotation.reseal_files(tmp_path, sealer) == 3
    assert rotation.reseal_files(tmp_path, sealer) == 0
    service_ca.ServiceCa.load(tmp_path, KeySealer(sealer.current))
    password = tls_certificate.password_for(sealer.current)
    serialization.load_pem_private_key(tls_certificate.key_path(tmp_path).read_bytes(), password)


def test_a_new_ca_in_the_same_directory_is_read_at_once(tmp_path: Path) -> None:
    # The chain is cached and its files looked at once a second at most; a CA made in
    # the same directory within that second (salus init again, a restore) is still what
    # the next read gives, and `load` pairs the issuing key with its own certificate.
    sealer = KeySealer(ServiceKey(b"\x09" * 32))
    first = service_ca.ServiceCa.create(tmp_path, sealer, "salus.test", NOW)
    assert service_ca.load_chain(tmp_path)[1] == first.issuing  # now cached
    for path in service_ca.CaPaths.of(tmp_path).directory.iterdir():
        path.unlink()
    second = service_ca.ServiceCa.create(tmp_path, sealer, "salus.test", NOW)
    assert second.issuing != first.issuing
    assert service_ca.load_chain(tmp_path)[1] == second.issuing
    assert service_ca.issuing_pem(tmp_path) == service_ca.pem(second.issuing)
    loaded = service_ca.ServiceCa.load(tmp_path, sealer)
    assert loaded.issuing == second.issuing
    assert loaded.issuer.key.public_key() == second.issuing.public_key()
