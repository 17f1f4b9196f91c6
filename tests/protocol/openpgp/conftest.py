"""A throw-away GnuPG home for interop tests with the real `gpg` command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crypto.openpgp import generate_key


@dataclass
class Gpg:
    home: Path

    def run(
        self, *args: str, stdin: bytes = b"", check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """gpg in batch mode with trust decisions out of the way; status lines on stderr."""
        command = [
            "gpg", "--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback",
            "--trust-model", "always", "--status-fd", "2", *args,
        ]  # fmt: skip
        done = subprocess.run(
            command, input=stdin, capture_output=True, env={**os.environ, "GNUPGHOME": str(self.home)},
            timeout=60, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(
                f"gpg {' '.join(args)} failed:\n{done.stderr.decode(errors='replace')}"
            )
        return done

    def import_key(self, armored: str, passphrase: str = "") -> None:
        self.run("--passphrase", passphrase, "--import", stdin=armored.encode())

    def new_key(
        self, user_id: str, algorithm: str = "future-default", expire: str = "never"
    ) -> str:
        """A key made by gpg without passphrase; returns its fingerprint."""
        self.run("--passphrase", "", "--quick-gen-key", user_id, algorithm, "default", expire)
        listing = self.run("--with-colons", "--list-keys", user_id).stdout.decode()
        return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))

    def add_encryption_subkey(self, fingerprint: str, algorithm: str) -> None:
        self.run("--passphrase", "", "--quick-add-key", fingerprint, algorithm, "encr")

    def export(self, user_id: str, *, secret: bool = False) -> str:
        what = "--export-secret-keys" if secret else "--export"
        return self.run("--armor", "--passphrase", "", what, user_id).stdout.decode()


@pytest.fixture
def gpg() -> Iterator[Gpg]:
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed")
    # A short path: gpg-agent's socket lives in the home and socket paths are limited.
    home = Path(tempfile.mkdtemp(prefix="sgpg-", dir="/tmp"))
    home.chmod(0o700)
    try:
        yield Gpg(home)
    finally:
        env = {**os.environ, "GNUPGHOME": str(home)}
        subprocess.run(
            ["gpgconf", "--kill", "gpg-agent"], env=env, check=False, capture_output=True
        )
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def alice() -> tuple[str, str]:
    return generate_key("alice@praxis.test", "Dr Alice Example")


@pytest.fixture(scope="module")
def bob() -> tuple[str, str]:
    return generate_key("bob@klinik.test", "Dr Bob Example")
