"""OpenPGP for Salus mailboxes: keys, PGP/MIME (RFC 3156) sign+encrypt and decrypt+verify.

Every public function takes and returns str/bytes (armored keys, MIME entities), so the
gateway can run it in the crypto process pool. pgpy 0.6 does the packet cryptography;
this package adds what pgpy does not do: message composition checks (MDC required, no
plaintext spliced beside the encrypted part) and key status (revocation, expiry, key
flags, self-signatures). See docs/decisions.md "OpenPGP with pgpy".
"""

from __future__ import annotations

import warnings

# pgpy 0.6 names ciphers that cryptography moved to `decrepit` (TripleDES, Camellia, CFB)
# and imports `imghdr`: both only warn today (docs/decisions.md); keep them off the logs.
warnings.filterwarnings("ignore", message=r".*decrepit.*", module=r"pgpy(\.|$)")
warnings.filterwarnings("ignore", message=r".*imghdr.*", category=DeprecationWarning)
# pgpy warns when a peer key's preferences omit what we use; sign_encrypt picks from them.
warnings.filterwarnings("ignore", message=r"Selected .* not in key preferences")

from crypto.openpgp.decrypt_verify import OpenPgpResult, decrypt_and_verify  # noqa: E402
from crypto.openpgp.errors import (  # noqa: E402
    KeyFormatError,
    KeyRefused,
    MessageRefused,
    Refusal,
)
from crypto.openpgp.key_status import KeyProblem, KeyStatus, check_key  # noqa: E402
from crypto.openpgp.keys import export_secret, fingerprint, generate_key, public_of  # noqa: E402
from crypto.openpgp.sign_encrypt import sign_and_encrypt  # noqa: E402

__all__ = [
    "KeyFormatError",
    "KeyProblem",
    "KeyRefused",
    "KeyStatus",
    "MessageRefused",
    "OpenPgpResult",
    "Refusal",
    "check_key",
    "decrypt_and_verify",
    "export_secret",
    "fingerprint",
    "generate_key",
    "public_of",
    "sign_and_encrypt",
]
