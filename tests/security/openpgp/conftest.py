"""Keys shared by the OpenPGP attack tests (made once per module: Ed25519 is cheap)."""

from __future__ import annotations

import pytest

from crypto.openpgp import generate_key


@pytest.fixture(scope="module")
def alice() -> tuple[str, str]:
    """The sender: (secret, public)."""
    return generate_key("alice@praxis.test", "Dr Alice Example")


@pytest.fixture(scope="module")
def bob() -> tuple[str, str]:
    """The recipient."""
    return generate_key("bob@klinik.test", "Dr Bob Example")


@pytest.fixture(scope="module")
def mallory() -> tuple[str, str]:
    """An attacker with a key of their own, unknown to the recipient's directory."""
    return generate_key("alice@praxis.test", "Dr Alice Example")
