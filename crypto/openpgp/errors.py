"""Errors of the OpenPGP package that are not decryption failures.

Decryption failures are `crypto.errors.DecryptionError` (one opaque error, no oracle);
these ones are about keys, which the caller chose and may show a reason for.
"""

from __future__ import annotations


class KeyFormatError(ValueError):
    """The armored text is not one usable OpenPGP key of the expected kind."""
