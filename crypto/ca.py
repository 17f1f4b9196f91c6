"""The service CA of one operator: a root and an issuing CA in the data dir.

Layout (docs/contracts): `DIR/ca/root.crt`, `DIR/ca/issuing.crt`, `DIR/ca/root.key.sealed`,
`DIR/ca/issuing.key.sealed` (sealed under the service key, 0600), `DIR/ca/crl.pem` (the
issuing CA's CRL). The root key is opened only to sign the issuing CA, at `salus init`;
the issuing CA signs mailbox certificates, the TLS certificate and the CRL.

Certificates are public and written 0644; private keys never touch the disk unsealed.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crypto import policy, profiles
from crypto.atomic_file import write_atomic
from crypto.errors import CaError, SealedKeyError
from crypto.profiles import Issuer, PublicKey, RevokedSerial
from crypto.sealing import KeyProtector, open_private_key, reseal, seal_private_key

ROOT_CONTEXT = b"ca/root"
ISSUING_CONTEXT = b"ca/issuing"


@dataclass(frozen=True, slots=True)
class CaPaths:
    """Where the CA of a data dir lives."""

    directory: Path

    @classmethod
    def of(cls, data_dir: Path) -> CaPaths:
        return cls(data_dir / "ca")

    @property
    def root_cert(self) -> Path:
        return self.directory / "root.crt"

    @property
    def issuing_cert(self) -> Path:
        return self.directory / "issuing.crt"

    @property
    def root_key(self) -> Path:
        return self.directory / "root.key.sealed"

    @property
    def issuing_key(self) -> Path:
        return self.directory / "issuing.key.sealed"

    @property
    def crl(self) -> Path:
        return self.directory / "crl.pem"


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class ServiceCa:
    """The issuing CA, opened: signs mailbox certificates, the TLS certificate and CRLs."""

    def __init__(self, root: x509.Certificate, issuer: Issuer) -> None:
        self.root = root
        self.issuer = issuer

    @property
    def issuing(self) -> x509.Certificate:
        return self.issuer.cert

    @property
    def chain_pem(self) -> bytes:
        """Issuing CA then root, PEM: what `salus trust export-ca` prints."""
        return pem(self.issuing) + pem(self.root)

    @classmethod
    def create(
        cls, data_dir: Path, protector: KeyProtector, domain: str, now: dt.datetime
    ) -> ServiceCa:
        """Make the root and the issuing CA of a new data dir; refuse to replace one."""
        paths = CaPaths.of(data_dir)
        if paths.root_cert.exists() or paths.issuing_key.exists():
            raise CaError(f"{paths.directory} already holds a CA: it is never replaced")
        paths.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        root_key = rsa.generate_private_key(policy.RSA_PUBLIC_EXPONENT, policy.ROOT_CA_RSA_BITS)
        root = profiles.root_certificate(
            root_key, profiles.ca_name(f"Salus Root CA {domain}", domain), now
        )
        issuing_key = rsa.generate_private_key(
            policy.RSA_PUBLIC_EXPONENT, policy.ISSUING_CA_RSA_BITS
        )
        issuing = profiles.issuing_certificate(
            Issuer(root, root_key),
            issuing_key.public_key(),
            profiles.ca_name(f"Salus Issuing CA {domain}", domain),
            now,
        )
        write_atomic(paths.root_key, seal_private_key(protector, root_key, ROOT_CONTEXT), 0o600)
        write_atomic(
            paths.issuing_key, seal_private_key(protector, issuing_key, ISSUING_CONTEXT), 0o600
        )
        write_atomic(paths.root_cert, pem(root), 0o644)
        write_atomic(paths.issuing_cert, pem(issuing), 0o644)
        _CHECKED.pop(data_dir, None)  # a chain cached for this directory is looked at again
        return cls(root, Issuer(issuing, issuing_key))

    @classmethod
    def load(cls, data_dir: Path, protector: KeyProtector) -> ServiceCa:
        """Open the issuing CA (its key unsealed in memory only)."""
        paths = CaPaths.of(data_dir)
        root, issuing = _chain(data_dir, recheck=True)[0]  # the files as they are now
        try:
            sealed = paths.issuing_key.read_bytes()
        except OSError as exc:
            raise CaError(f"cannot read {paths.issuing_key}: {exc.strerror}") from exc
        try:
            key = open_private_key(protector, sealed, ISSUING_CONTEXT)
        except SealedKeyError as exc:
            raise CaError(f"{paths.issuing_key}: {exc}") from exc
        return cls(root, Issuer(issuing, key))

    def issue_mailbox(
        self, public_key: PublicKey, address: str, name: str, now: dt.datetime
    ) -> x509.Certificate:
        return profiles.mailbox_certificate(self.issuer, public_key, address, name, now)

    def issue_tls(
        self, public_key: PublicKey, names: list[str], now: dt.datetime
    ) -> x509.Certificate:
        return profiles.tls_certificate(self.issuer, public_key, names, now)

    def sign_crl(
        self, revoked: list[RevokedSerial], number: int, now: dt.datetime
    ) -> x509.CertificateRevocationList:
        return profiles.revocation_list(self.issuer, revoked, number, now)


def load_chain(data_dir: Path) -> tuple[x509.Certificate, x509.Certificate]:
    """(root, issuing) certificates of a data dir, without opening any key.

    The protect step signs with the issuing CA in the chain of every message: the
    certificates are parsed once per process and read again only when a file's size or
    modification time changes (`salus init` on the same dir, a restored backup), which
    is looked at once a second at most (two stat calls were ~1% of a message's loop)."""
    return _chain(data_dir)[0]


def issuing_pem(data_dir: Path) -> bytes:
    """The issuing CA's certificate, PEM (`load_chain`'s, encoded once)."""
    return _chain(data_dir)[1]


def _chain(
    data_dir: Path, *, recheck: bool = False
) -> tuple[tuple[x509.Certificate, x509.Certificate], bytes]:
    """The chain and the issuing PEM; `recheck`: look at the files whatever the time (to
    pair the certificate with the issuing key read next)."""
    cached = _CHAINS.get(data_dir)
    now = time.monotonic()
    recent = now - _CHECKED.get(data_dir, -STAT_SECONDS) < STAT_SECONDS
    if cached is not None and recent and not recheck:
        return cached[1]  # the files were looked at less than a second ago
    _CHECKED[data_dir] = now
    files = _FILES.get(data_dir)
    if files is None:
        paths = CaPaths.of(data_dir)
        files = _FILES[data_dir] = (str(paths.root_cert), str(paths.issuing_cert))
    try:
        stamp = tuple((s.st_mtime_ns, s.st_size, s.st_ino) for s in map(os.stat, files))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        with open(files[0], "rb") as root, open(files[1], "rb") as issuing:
            chain = (
                x509.load_pem_x509_certificate(root.read()),
                x509.load_pem_x509_certificate(issuing.read()),
            )
    except FileNotFoundError as exc:
        raise CaError(
            f"{data_dir} has no service CA ({exc.filename} is missing): run `salus init`"
        ) from exc
    except (OSError, ValueError) as exc:
        raise CaError(f"the service CA in {Path(files[0]).parent} cannot be read: {exc}") from exc
    entry = (chain, pem(chain[1]))
    _CHAINS[data_dir] = (stamp, entry)
    return entry


_Stamp = tuple[tuple[int, int, int], ...]
STAT_SECONDS = 1.0  # how often the protect step's reads look at the files again
_CHECKED: dict[Path, float] = {}
_FILES: dict[Path, tuple[str, str]] = {}
_CHAINS: dict[Path, tuple[_Stamp, tuple[tuple[x509.Certificate, x509.Certificate], bytes]]] = {}


def export_chain(data_dir: Path) -> bytes:
    """Issuing CA then root, PEM (public; needs no service key)."""
    root, issuing = load_chain(data_dir)
    return pem(issuing) + pem(root)


def write_crl(data_dir: Path, crl: x509.CertificateRevocationList) -> None:
    """Write DIR/ca/crl.pem, unless it already holds this CRL (nodes mirror it hourly)."""
    path, text = CaPaths.of(data_dir).crl, crl.public_bytes(serialization.Encoding.PEM)
    try:
        if path.read_bytes() == text:
            return
    except OSError:
        pass  # absent or unreadable: written below
    write_atomic(path, text, 0o644)


def reseal_keys(data_dir: Path, protector: KeyProtector) -> int:
    """Re-seal the CA keys under the current service key (rotation); returns how many."""
    paths = CaPaths.of(data_dir)
    done = 0
    for path, context in ((paths.root_key, ROOT_CONTEXT), (paths.issuing_key, ISSUING_CONTEXT)):
        sealed = path.read_bytes()
        if protector.needs_reseal(sealed):
            write_atomic(path, reseal(protector, sealed, context), 0o600)
            done += 1
    return done
