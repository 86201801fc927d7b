"""JID validation and normalization (RFC 7622), enough to key events by user.

Every event is keyed by the user's *bare* JID (``localpart@domainpart``), so two spellings
of the same user (``Juliet@Capulet.LIT`` and ``juliet@capulet.lit/balcony``) must map to the
same string, or per-user ordering in Kafka breaks. This is a pragmatic subset of the PRECIS
profiles: case-mapping and NFC normalization of the localpart, lower-casing/NFC of the
domainpart, and the structural checks RFC 7622 §3 requires.
"""

from __future__ import annotations

import ipaddress
import unicodedata

from pepline_shared.errors import InvalidJID

__all__ = ["InvalidJID", "bare_jid", "split_jid"]

# RFC 7622 §3.3.1: these characters are forbidden in a localpart.
_LOCAL_FORBIDDEN = frozenset("\"&'/:<>@")
_MAX_PART_BYTES = 1023


def _check_length(value: str, part: str, text: str) -> None:
    size = len(text.encode("utf-8"))
    if size == 0:
        raise InvalidJID(value, f"empty {part}")
    if size > _MAX_PART_BYTES:
        raise InvalidJID(value, f"{part} longer than {_MAX_PART_BYTES} bytes")


def _normalize_local(value: str, local: str) -> str:
    # UsernameCaseMapped (RFC 8265 §3.3): width-map, lower-case, NFC. NFKC on the fullwidth
    # forms only would be exact; NFKC on the whole string is not, so lower + NFC it is.
    norm = unicodedata.normalize("NFC", local.lower())
    _check_length(value, "localpart", norm)
    for ch in norm:
        if ch in _LOCAL_FORBIDDEN:
            raise InvalidJID(value, f"character {ch!r} is not allowed in a localpart")
        if ch.isspace() or unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"}:
            raise InvalidJID(value, f"character U+{ord(ch):04X} is not allowed in a localpart")
    return norm


def _normalize_domain(value: str, domain: str) -> str:
    if domain.startswith("[") and domain.endswith("]"):
        try:
            return f"[{ipaddress.IPv6Address(domain[1:-1]).compressed}]"
        except ValueError:
            raise InvalidJID(value, "invalid IPv6 literal in domainpart") from None
    # RFC 7622 §3.2: a trailing dot is stripped before comparison.
    norm = unicodedata.normalize("NFC", domain.removesuffix(".").lower())
    _check_length(value, "domainpart", norm)
    for label in norm.split("."):
        if not label or len(label) > 63:
            raise InvalidJID(value, "domainpart has an empty or over-long label")
        if label.startswith("-") or label.endswith("-"):
            raise InvalidJID(value, f"domain label {label!r} starts or ends with '-'")
        if not all(ch.isalnum() or ch == "-" for ch in label):
            raise InvalidJID(value, f"domain label {label!r} has characters outside LDH/letters")
        if not label.isascii():
            try:
                label.encode("idna")
            except UnicodeError:
                raise InvalidJID(value, f"domain label {label!r} is not valid IDNA") from None
    return norm


def split_jid(value: str) -> tuple[str | None, str, str | None]:
    """Validate ``value`` and return its normalized ``(localpart, domainpart, resourcepart)``."""
    if not isinstance(value, str):
        raise InvalidJID(repr(value), "not a string")
    bare, slash, resource = value.partition("/")
    if slash and not resource:
        raise InvalidJID(value, "empty resourcepart after '/'")
    if slash:
        _check_length(value, "resourcepart", resource)
    local, at, domain = bare.rpartition("@")
    if not at:
        local, domain = "", bare
    elif "@" in local:
        raise InvalidJID(value, "more than one '@' before the resourcepart")
    norm_local = _normalize_local(value, local) if at else None
    norm_domain = _normalize_domain(value, domain)
    return norm_local, norm_domain, (resource if slash else None)


def bare_jid(value: str, *, allow_domain: bool = False) -> str:
    """Return the normalized bare JID of ``value`` (a resource, if any, is dropped).

    A user's JID must have a localpart; pass ``allow_domain=True`` to also accept a
    domain-only JID such as a server or component address.
    """
    local, domain, _resource = split_jid(value)
    if local is None:
        if not allow_domain:
            raise InvalidJID(value, "a user's JID needs a localpart ('user@domain')")
        return domain
    return f"{local}@{domain}"
