"""Hand-built OpenPGP messages for attack tests: any inner packets, sealed with or
without integrity protection, for a recipient key made by generate_key."""

from __future__ import annotations

import os

import pgpy
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from pgpy.constants import CompressionAlgorithm, HashAlgorithm, SymmetricKeyAlgorithm
from pgpy.packet.packets import IntegrityProtectedSKEDataV1, PKESessionKeyV3

from crypto.openpgp.armor import armor
from crypto.openpgp.keys import load_key
from crypto.openpgp.packets import Tag, encode
from crypto.openpgp.pgp_mime import build_encrypted

AES256 = SymmetricKeyAlgorithm.AES256


def signed_literal(
    entity: bytes,
    *signers: pgpy.PGPKey,
    hash_algorithm: HashAlgorithm = HashAlgorithm.SHA256,
    **prefs: object,
) -> bytes:
    """One-pass signature, literal data and signature packets, as sign_and_encrypt puts
    inside the encryption (no signer: the literal data packet alone)."""
    message = pgpy.PGPMessage.new(entity, format="b", compression=CompressionAlgorithm.Uncompressed)
    for signer in signers:
        message |= signer.sign(message, hash=hash_algorithm, **prefs)
    return bytes(message)


def literal_packet(entity: bytes) -> bytes:
    return signed_literal(entity)


def sealed(inner: bytes, recipient_public: str, *, integrity: bool = True) -> bytes:
    """A binary OpenPGP message: a PKESK for the recipient's encryption subkey, then
    `inner` in a SEIPD packet (with MDC) or, if not `integrity`, in a Symmetrically
    Encrypted Data packet (RFC 4880 §5.7, no MDC: what EFAIL exploits)."""
    recipient = load_key(recipient_public)
    subkey = next(iter(recipient.subkeys.values()))
    session_key = AES256.gen_key()
    pkesk = PKESessionKeyV3()
    pkesk.encrypter = bytearray.fromhex(subkey.fingerprint.keyid)
    pkesk.pkalg = subkey.key_algorithm
    pkesk.encrypt_sk(subkey._key, AES256, session_key)
    if integrity:
        seipd = IntegrityProtectedSKEDataV1()
        seipd.encrypt(session_key, AES256, inner)
        data = bytes(seipd)
    else:
        data = encode(Tag.SED, _sed_ciphertext(bytes(session_key), inner))
    return bytes(pkesk) + data


def as_pgp_mime(message: bytes) -> bytes:
    return build_encrypted(armor("MESSAGE", message))


def _sed_ciphertext(key: bytes, data: bytes) -> bytes:
    """OpenPGP CFB with the resynchronisation step (RFC 4880 §13.9)."""
    block = 16
    prefix = os.urandom(block)
    head = _cfb(key, bytes(block), prefix + prefix[-2:])
    return head + _cfb(key, head[2 : block + 2], data)


def _cfb(key: bytes, iv: bytes, data: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), CFB(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()
