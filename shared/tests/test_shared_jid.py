"""Bare JID validation and normalization (RFC 7622)."""

from __future__ import annotations

import pytest

from pepline_shared.jid import InvalidJID, bare_jid, split_jid


@pytest.mark.parametrize(
    ("raw", "bare"),
    [
        ("juliet@capulet.lit", "juliet@capulet.lit"),
        ("Juliet@Capulet.LIT", "juliet@capulet.lit"),
        ("juliet@capulet.lit/balcony", "juliet@capulet.lit"),
        ("juliet@capulet.lit/Balcony/with/slashes@and-at", "juliet@capulet.lit"),
        ("juliet@capulet.lit.", "juliet@capulet.lit"),
        ("ÇA@Example.COM", "ça@example.com"),
        ("user@münchen.example", "user@münchen.example"),
        ("user@[::1]", "user@[::1]"),
        ("user@localhost", "user@localhost"),
        ("a.b_c-d+e@pepline.test", "a.b_c-d+e@pepline.test"),
    ],
)
def test_valid_jids_normalize_to_bare(raw: str, bare: str) -> None:
    assert bare_jid(raw) == bare
    assert bare_jid(bare_jid(raw)) == bare_jid(raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("capulet.lit", "localpart"),
        ("@capulet.lit", "empty localpart"),
        ("juliet@", "empty domainpart"),
        ("juliet@capulet.lit/", "empty resourcepart"),
        ("ju liet@capulet.lit", "not allowed"),
        ("ju<liet@capulet.lit", "not allowed"),
        ('ju"liet@capulet.lit', "not allowed"),
        ("a@b@c", "more than one"),
        ("juliet@capu let.lit", "domain label"),
        ("juliet@-capulet.lit", "starts or ends"),
        ("juliet@capulet..lit", "label"),
        ("juliet@[not-ipv6]", "IPv6"),
        ("x" * 1024 + "@capulet.lit", "longer than"),
        ("juliet@" + "a" * 64 + ".lit", "label"),
    ],
)
def test_invalid_jids_raise_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidJID) as info:
        bare_jid(raw)
    assert reason in info.value.reason
    assert isinstance(info.value, ValueError)


def test_domain_jids_only_when_allowed() -> None:
    assert bare_jid("Pepline.Test", allow_domain=True) == "pepline.test"
    assert bare_jid("publisher.pepline.test/x", allow_domain=True) == "publisher.pepline.test"
    with pytest.raises(InvalidJID):
        bare_jid("pepline.test")


def test_split_jid() -> None:
    assert split_jid("Romeo@Montague.LIT/Orchard") == ("romeo", "montague.lit", "Orchard")
    assert split_jid("montague.lit") == (None, "montague.lit", None)
