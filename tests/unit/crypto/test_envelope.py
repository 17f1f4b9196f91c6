"""Encrypting and decrypting in both forms: what goes in comes out for every recipient,
nobody else reads it, and the envelope uses exactly the algorithms of the policy."""

from __future__ import annotations

import base64

import pytest
from asn1crypto import cms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto import policy, smime
from crypto.errors import DecryptionError, KeyMaterialError
from crypto.smime import mime
from crypto.smime.asn1 import GCMParameters
from tests.unit.crypto.pki import Mailbox, Pki, cert_pem, rsa_key

FORMS = [policy.FORM_CBC, policy.FORM_GCM]
ENTITY = b"Content-Type: text/plain; charset=utf-8\r\n\r\nPotassium 4.1 mmol/L\r\n"


def _der(entity: bytes) -> cms.ContentInfo:
    part = mime.parse(entity)
    return cms.ContentInfo.load(base64.b64decode(part.body))


@pytest.mark.parametrize("form", FORMS)
def test_every_recipient_decrypts_the_same_entity(form: str, alice: Mailbox, bob: Mailbox) -> None:
    protected = smime.encrypt(ENTITY, [alice.cert_pem, bob.cert_pem], form)
    assert smime.decrypt(protected, alice.key_pem, alice.cert_pem) == ENTITY
    assert smime.decrypt(protected, bob.key_pem, bob.cert_pem) == ENTITY


@pytest.mark.parametrize("form", FORMS)
def test_someone_else_cannot_decrypt(form: str, pki: Pki, alice: Mailbox) -> None:
    mallory = pki.mailbox("mallory@salus.test")
    protected = smime.encrypt(ENTITY, [alice.cert_pem], form)
    with pytest.raises(DecryptionError) as caught:
        smime.decrypt(protected, mallory.key_pem, mallory.cert_pem)
    assert str(caught.value) == "the message cannot be decrypted"


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=3000), form=st.sampled_from(FORMS))
def test_any_body_round_trips_with_canonical_line_ends(
    body: bytes, form: str, alice: Mailbox
) -> None:
    entity = b"Content-Type: application/octet-stream\r\n\r\n" + body
    protected = smime.encrypt(entity, [alice.cert_pem], form)
    assert smime.decrypt(protected, alice.key_pem, alice.cert_pem) == mime.to_crlf(entity)


def test_cbc_form_is_enveloped_data_aes256_cbc_with_pkcs1v15(alice: Mailbox) -> None:
    protected = smime.encrypt(ENTITY, [alice.cert_pem], policy.FORM_CBC)
    assert b"smime-type=enveloped-data" in protected.split(b"\r\n\r\n")[0]
    info = _der(protected)
    assert info["content_type"].native == "enveloped_data"
    eci = info["content"]["encrypted_content_info"]
    assert eci["content_encryption_algorithm"]["algorithm"].native == "aes256_cbc"
    assert len(eci["content_encryption_algorithm"]["parameters"].native) == 16
    ktri = info["content"]["recipient_infos"][0].chosen
    assert ktri["key_encryption_algorithm"]["algorithm"].native == "rsaes_pkcs1v15"
    assert ktri["rid"].name == "issuer_and_serial_number"


def test_gcm_form_is_auth_enveloped_data_with_oaep_sha256(alice: Mailbox) -> None:
    protected = smime.encrypt(ENTITY, [alice.cert_pem], policy.FORM_GCM)
    assert b"smime-type=authEnveloped-data" in protected.split(b"\r\n\r\n")[0]
    info = _der(protected)
    assert info["content_type"].native == "authenticated_enveloped_data"
    content = info["content"]
    algorithm = content["auth_encrypted_content_info"]["content_encryption_algorithm"]
    assert algorithm["algorithm"].native == "aes256_gcm"
    params = GCMParameters.load(algorithm["parameters"].dump())
    assert len(params["aes_nonce"].native) == 12
    assert params["aes_icvlen"].native == 16
    assert len(content["mac"].native) == 16
    transport = content["recipient_infos"][0].chosen["key_encryption_algorithm"]
    assert transport["algorithm"].native == "rsaes_oaep"
    assert transport["parameters"]["hash_algorithm"]["algorithm"].native == "sha256"
    assert (
        transport["parameters"]["mask_gen_algorithm"]["parameters"]["algorithm"].native == "sha256"
    )


def test_two_encryptions_of_one_entity_differ(alice: Mailbox) -> None:
    first = smime.encrypt(ENTITY, [alice.cert_pem], policy.FORM_GCM)
    assert first != smime.encrypt(ENTITY, [alice.cert_pem], policy.FORM_GCM)


def test_old_key_generations_still_decrypt(pki: Pki, alice: Mailbox) -> None:
    renewed = pki.mailbox("alice@salus.test")
    old_mail = smime.encrypt(ENTITY, [alice.cert_pem], policy.FORM_CBC)
    keys = [(renewed.key_pem, renewed.cert_pem), (alice.key_pem, alice.chain_pem)]
    assert smime.decrypt_any(old_mail, keys) == ENTITY


def test_a_recipient_below_the_key_size_policy_is_refused(pki: Pki) -> None:
    weak = pki.leaf("weak@salus.test", rsa_key(900, 1024))
    with pytest.raises(KeyMaterialError, match="1024-bit"):
        smime.encrypt(ENTITY, [cert_pem(weak)], policy.FORM_CBC)


def test_an_unknown_form_is_refused(alice: Mailbox) -> None:
    with pytest.raises(KeyMaterialError, match="unknown S/MIME form"):
        smime.encrypt(ENTITY, [alice.cert_pem], "smime-rc2")


def test_decrypting_a_plain_entity_is_the_opaque_error(alice: Mailbox) -> None:
    with pytest.raises(DecryptionError):
        smime.decrypt(ENTITY, alice.key_pem, alice.cert_pem)
