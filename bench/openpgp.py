"""OpenPGP per-message cost: Salus's `sign_and_encrypt` and `decrypt_and_verify` (pgpy
0.6 under our own packet and key-status checks) against the raw primitives one message
needs, timed in the same run (DESIGN section 10, issue 5).

The primitives floor of one message: an Ed25519 signature over its SHA-256, one X25519
agreement, AES-256-CFB over the entity, SHA-1 over it (the MDC) and one base64 pass (the
armor). Salus's own keys are Ed25519/Cv25519; RSA-2048 pairs show what a peer's RSA key
costs (pgpy rebuilds an RSA private key with full validation on every use). Each call
parses the armored keys and checks their status, as the process pool's functions do.
Figures are the best of repeated calls in CPU milliseconds of this thread.

    .venv/bin/python -m bench.openpgp [--reps 41]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pgpy
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from pgpy.constants import KeyFlags, PubKeyAlgorithm

from crypto.openpgp import check_key, decrypt_and_verify, generate_key, sign_and_encrypt

SIZES = {"10 KB": 10 * 1024, "1 MB": 1024 * 1024}
KeyPair = tuple[str, str]  # (armored secret, armored public)


def best_ms(call: Callable[[], object], reps: int) -> float:
    """The fastest of `reps` calls, in ms of this thread's CPU time."""
    times = []
    for _ in range(reps):
        start = time.thread_time()
        call()
        times.append((time.thread_time() - start) * 1000)
    return min(times)


def rsa_pair(address: str) -> KeyPair:
    key = pgpy.PGPKey.new(PubKeyAlgorithm.RSAEncryptOrSign, 2048)
    key.add_uid(pgpy.PGPUID.new(address, email=address), usage={KeyFlags.Sign, KeyFlags.Certify})
    key.add_subkey(
        pgpy.PGPKey.new(PubKeyAlgorithm.RSAEncryptOrSign, 2048),
        usage={KeyFlags.EncryptCommunications, KeyFlags.EncryptStorage},
    )
    return str(key), str(key.pubkey)


def entity_of(size: int) -> bytes:
    body = base64.encodebytes(os.urandom(size * 3 // 4)).replace(b"\n", b"\r\n")
    return b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body


def floor_ms(data: bytes, reps: int) -> float:
    signing, agreeing = ed25519.Ed25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()
    peer, key = x25519.X25519PrivateKey.generate().public_key(), os.urandom(32)
    return sum(
        best_ms(call, reps)
        for call in (
            lambda: signing.sign(hashlib.sha256(data).digest()),
            lambda: agreeing.exchange(peer),
            lambda: Cipher(algorithms.AES(key), CFB(bytes(16))).encryptor().update(data),
            lambda: hashlib.sha1(data).digest(),
            lambda: base64.b64encode(data),
        )
    )


def _row(data: bytes, pair: tuple[KeyPair, KeyPair], floor: float, reps: int) -> str:
    (a_secret, a_public), (b_secret, b_public) = pair
    protected = sign_and_encrypt(data, a_secret, [b_public])
    protect = best_ms(lambda: sign_and_encrypt(data, a_secret, [b_public]), reps)
    five = best_ms(lambda: sign_and_encrypt(data, a_secret, [b_public] * 5), reps)
    unprotect = best_ms(lambda: decrypt_and_verify(protected, b_secret, [a_public]), reps)
    return (
        f"{protect:.1f} | {protect / floor:.0f}x | {five:.1f}"
        f" | {unprotect:.1f} | {unprotect / floor:.0f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=41, help="Calls per figure at 10 KB.")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # pgpy's deprecation warnings on cryptography 50
    ed = (generate_key("a@x.test", "A"), generate_key("b@x.test", "B"))
    rsa = (rsa_pair("a@x.test"), rsa_pair("b@x.test"))
    pairs: dict[str, tuple[KeyPair, KeyPair]] = {
        "Ed25519->Cv25519 (Salus)": ed,
        "RSA-2048->RSA-2048": rsa,
        "Ed25519->RSA-2048": (ed[0], rsa[1]),
        "RSA-2048->Cv25519": (rsa[0], ed[1]),
    }
    print("command: .venv/bin/python -m bench.openpgp --reps", args.reps)
    print(f"check_key: {best_ms(lambda: check_key(ed[1][1], datetime.now(UTC)), args.reps):.2f} ms")
    print("| keys | size | protect ms | x floor | 5 recipients ms | unprotect ms | x floor |")
    print("|---|---|---|---|---|---|---|")
    for label, size in SIZES.items():
        reps = args.reps if size < 100_000 else max(5, args.reps // 4)
        data = entity_of(size)
        floor = floor_ms(data, reps)
        for name, pair in pairs.items():
            print(f"| {name} | {label} | {_row(data, pair, floor, reps)} |")
        print(f"(primitives floor at {label}: {floor:.2f} ms)")


if __name__ == "__main__":
    main()
