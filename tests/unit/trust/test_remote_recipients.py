"""RCPT for another operator's mailbox: accepted when its lookup publishes a key,
refused with the lookup's reason otherwise (DESIGN section 5.3)."""

from __future__ import annotations

from config.settings import SmtpSettings
from gateway.policy import chains, run_chain
from gateway.policy.facts import RecipientFacts
from gateway.trust.remote_keys import (
    KeyLookupFailed,
    KeyRefused,
    LookupUnavailable,
    NoPublishedKey,
    RemoteKeys,
)

ADDRESS = "doctor.2@b.test"


def verdict(found: RemoteKeys | KeyLookupFailed | None, *, trusted: bool = True) -> str | None:
    facts = RecipientFacts(ADDRESS, 0, None, trusted, ("a.test",), SmtpSettings(), found)
    refusal = run_chain("rcpt", chains.RCPT, facts).refusal
    return None if refusal is None else refusal.reply()


def test_a_published_key_admits_the_recipient() -> None:
    assert verdict(RemoteKeys(ADDRESS, "smime", b"PEM", "ARMOR")) is None


def test_the_lookups_reason_is_the_reply() -> None:
    assert verdict(NoPublishedKey(ADDRESS, "b.test publishes no key")) == (
        f"550 5.1.1 <{ADDRESS}>: b.test publishes no key [recipient-is-local]"
    )
    assert verdict(KeyRefused(ADDRESS, "expired")).startswith("550 5.7.1 ")  # type: ignore[union-attr]
    assert verdict(LookupUnavailable(ADDRESS, "try later")).startswith("451 4.4.3 ")  # type: ignore[union-attr]


def test_no_lookup_means_no_acceptance() -> None:
    refused = verdict(None)
    assert refused is not None and "would leave unprotected" in refused
    # A key found for a domain outside the trust list changes nothing: relaying is refused.
    refused = verdict(RemoteKeys(ADDRESS, "smime", b"PEM", "ARMOR"), trusted=False)
    assert refused is not None and "relaying is not allowed" in refused
