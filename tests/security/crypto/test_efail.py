"""EFAIL and oracles: altered ciphertext never yields content a reader would see, and
every failure looks the same from outside (one type, one sentence).

GCM authenticates the ciphertext, so `decrypt` itself refuses a flipped bit. CBC is
malleable: a flip can decrypt to altered bytes, so `unprotect` (decrypt then verify, what
inbound mail and server-decrypt mailboxes use) answers with the same opaque error whether
the padding broke or the signature did not cover intact content (no padding oracle).
"""

from __future__ import annotations

import base64

import pytest
from asn1crypto import cms

from crypto import policy, smime
from crypto.errors import DecryptionError
from crypto.smime import mime
from tests.unit.crypto.pki import NOW, Mailbox, Pki

ENTITY = b"Content-Type: text/plain\r\n\r\n" + b"Creatinine 92 umol/L. " * 40 + b"\r\n"
OPAQUE = "the message cannot be decrypted"


def _protected(alice: Mailbox, bob: Mailbox, form: str) -> tuple[bytes, bytes]:
    protected = smime.sign_and_encrypt(ENTITY, alice.key_pem, alice.chain_pem, [bob.cert_pem], form)
    part = mime.parse(protected)
    return protected[: len(protected) - len(part.body)], base64.b64decode(part.body)


def _rewrap(head: bytes, info: cms.ContentInfo) -> bytes:
    return head + mime.base64_body(info.dump(force=True))


def _flip_content(head: bytes, der: bytes, position: int, form: str) -> bytes:
    info = cms.ContentInfo.load(der)
    key = "encrypted_content_info" if form == policy.FORM_CBC else "auth_encrypted_content_info"
    eci = info["content"][key]
    data = bytearray(eci["encrypted_content"].native)
    data[position % len(data)] ^= 0x01
    eci["encrypted_content"] = bytes(data)
    return _rewrap(head, info)


def _unprotect(entity: bytes, bob: Mailbox, pki: Pki) -> object:
    return smime.unprotect(entity, [(bob.key_pem, bob.cert_pem)], [pki.anchors_pem], NOW)


@pytest.mark.parametrize("position", [0, 17, 200, 511, -17, -1])
def test_flipped_cbc_ciphertext_is_one_opaque_error(
    position: int, pki: Pki, alice: Mailbox, bob: Mailbox
) -> None:
    head, der = _protected(alice, bob, policy.FORM_CBC)
    altered = _flip_content(head, der, position, policy.FORM_CBC)
    with pytest.raises(DecryptionError) as caught:
        _unprotect(altered, bob, pki)
    assert type(caught.value) is DecryptionError
    assert str(caught.value) == OPAQUE


def test_a_cbc_flip_in_the_middle_decrypts_but_never_verifies(
    pki: Pki, alice: Mailbox, bob: Mailbox
) -> None:
    """Why `unprotect` exists: raw CBC decryption of altered ciphertext 'succeeds'."""
    head, der = _protected(alice, bob, policy.FORM_CBC)
    altered = _flip_content(head, der, 200, policy.FORM_CBC)
    garbled = smime.decrypt(altered, bob.key_pem, bob.cert_pem)
    assert garbled != smime.decrypt(head + mime.base64_body(der), bob.key_pem, bob.cert_pem)
    assert not smime.verify(garbled, [pki.anchors_pem], NOW).valid


def test_flipped_cbc_iv_is_one_opaque_error(pki: Pki, alice: Mailbox, bob: Mailbox) -> None:
    head, der = _protected(alice, bob, policy.FORM_CBC)
    info = cms.ContentInfo.load(der)
    algorithm = info["content"]["encrypted_content_info"]["content_encryption_algorithm"]
    iv = bytearray(algorithm["parameters"].native)
    iv[3] ^= 0x80
    algorithm["parameters"] = bytes(iv)
    with pytest.raises(DecryptionError) as caught:
        _unprotect(_rewrap(head, info), bob, pki)
    assert str(caught.value) == OPAQUE


@pytest.mark.parametrize("position", [0, 17, 200, -1])
def test_flipped_gcm_ciphertext_does_not_decrypt(
    position: int, alice: Mailbox, bob: Mailbox
) -> None:
    head, der = _protected(alice, bob, policy.FORM_GCM)
    with pytest.raises(DecryptionError) as caught:
        smime.decrypt(
            _flip_content(head, der, position, policy.FORM_GCM), bob.key_pem, bob.cert_pem
        )
    assert type(caught.value) is DecryptionError
    assert str(caught.value) == OPAQUE


def test_flipped_gcm_tag_and_nonce_do_not_decrypt(alice: Mailbox, bob: Mailbox) -> None:
    head, der = _protected(alice, bob, policy.FORM_GCM)
    info = cms.ContentInfo.load(der)
    tag = bytearray(info["content"]["mac"].native)
    tag[0] ^= 1
    info["content"]["mac"] = bytes(tag)
    with pytest.raises(DecryptionError):
        smime.decrypt(_rewrap(head, info), bob.key_pem, bob.cert_pem)
    truncated = cms.ContentInfo.load(der)
    truncated["content"]["mac"] = truncated["content"]["mac"].native[:8]
    with pytest.raises(DecryptionError):
        smime.decrypt(_rewrap(head, truncated), bob.key_pem, bob.cert_pem)


def test_a_tampered_wrapped_key_is_the_same_error(alice: Mailbox, bob: Mailbox) -> None:
    """Bleichenbacher: a broken PKCS#1 v1.5 key block is not distinguishable."""
    errors = []
    for form in (policy.FORM_CBC, policy.FORM_GCM):
        head, der = _protected(alice, bob, form)
        info = cms.ContentInfo.load(der)
        ktri = info["content"]["recipient_infos"][0].chosen
        block = bytearray(ktri["encrypted_key"].native)
        block[5] ^= 0xFF
        ktri["encrypted_key"] = bytes(block)
        with pytest.raises(DecryptionError) as caught:
            smime.decrypt(_rewrap(head, info), bob.key_pem, bob.cert_pem)
        errors.append((type(caught.value), str(caught.value)))
    assert errors == [(DecryptionError, OPAQUE)] * 2


@pytest.mark.parametrize(
    "entity",
    [
        b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n",
        b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!\r\n",
        b"Content-Type: text/plain\r\n\r\nplain\r\n",
        b"garbage without headers",
    ],
)
def test_malformed_envelopes_are_the_same_error(entity: bytes, bob: Mailbox) -> None:
    with pytest.raises(DecryptionError) as caught:
        smime.decrypt(entity, bob.key_pem, bob.cert_pem)
    assert type(caught.value) is DecryptionError
    assert str(caught.value) == OPAQUE


def test_an_encrypted_but_unsigned_cbc_message_is_refused_by_unprotect(
    pki: Pki, bob: Mailbox
) -> None:
    """Without a signature nothing proves the CBC content intact: refused, opaquely."""
    protected = smime.encrypt(ENTITY, [bob.cert_pem], policy.FORM_CBC)
    with pytest.raises(DecryptionError):
        _unprotect(protected, bob, pki)


def test_an_encrypted_but_unsigned_gcm_message_is_reported_unsigned(pki: Pki, bob: Mailbox) -> None:
    protected = smime.encrypt(ENTITY, [bob.cert_pem], policy.FORM_GCM)
    result = smime.unprotect(protected, [(bob.key_pem, bob.cert_pem)], [pki.anchors_pem], NOW)
    assert result.status is smime.SignatureStatus.UNSIGNED
    assert not result.valid


@pytest.mark.parametrize("form", [policy.FORM_CBC, policy.FORM_GCM])
def test_control_rewrapping_without_a_change_still_opens(
    form: str, pki: Pki, alice: Mailbox, bob: Mailbox
) -> None:
    """The tampering helpers re-encode the DER; unchanged, the message must still open,
    so the refusals above come from the flipped bits and not from the re-encoding."""
    head, der = _protected(alice, bob, form)
    result = smime.unprotect(
        _rewrap(head, cms.ContentInfo.load(der)),
        [(bob.key_pem, bob.cert_pem)],
        [pki.anchors_pem],
        NOW,
    )
    assert result.valid
    assert result.content == ENTITY
