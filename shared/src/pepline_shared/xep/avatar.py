"""XEP-0084 User Avatar codec: two payloads per avatar.

* data item (node ``urn:xmpp:avatar:data``): ``<data xmlns='urn:xmpp:avatar:data'>`` with the
  base64 image bytes; its item id is the SHA-1 hex digest of the bytes (:attr:`Avatar.id`).
* metadata item (node ``urn:xmpp:avatar:metadata``, same item id):
  ``<metadata><info id= bytes= type= width= height=/></metadata>``; an empty
  ``<metadata/>`` is XEP-0084's "disable" and the encoding of ``Clear(kind=avatar)``.

The data item must be published before the metadata item (subscribers fetch the data when
they see the metadata). :func:`encode` returns the metadata payload, which is the one that
carries the "clear"; use :func:`encode_data` for the data payload, or
:func:`pepline_shared.xep.registry.pep_items` for both in publish order.

Limits: the model caps an avatar at ``AVATAR_MAX_BYTES`` (128 KiB); publishing applies a
configurable ``max_bytes`` (default :data:`DEFAULT_MAX_BYTES`, 64 KiB). :func:`prepare_avatar`
turns arbitrary image bytes into an acceptable avatar, downscaling to PNG if needed.

Plain ElementTree rather than slixmpp's ``xep_0084`` stanzas (1.17): its ``Info`` returns 0
for a missing width/height (optional in the schema) and for garbage, its setter for
``bytes`` is misnamed (``_set_bytes``, so ``info['bytes'] = n`` bypasses the int check), and
nothing checks the type, size, id or that the metadata matches the data.
"""

from __future__ import annotations

import base64
import binascii
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Final

from pepline_shared.errors import CodecError, EventValidationError
from pepline_shared.events.images import ImageProblem, downscale_png, sniff_image
from pepline_shared.events.kinds import Kind
from pepline_shared.events.models import AVATAR_MAX_BYTES, Avatar, Clear
from pepline_shared.xep._xml import build_model, children_in, expect_root, qname, split_tag

__all__ = [
    "DATA_NAMESPACE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DIMENSION",
    "LEGACY_DATA_NAMESPACE",
    "LEGACY_METADATA_NAMESPACE",
    "METADATA_NAMESPACE",
    "NAMESPACE",
    "AvatarInfo",
    "AvatarMetadata",
    "decode",
    "decode_avatar",
    "decode_data",
    "decode_metadata",
    "encode",
    "encode_data",
    "encode_metadata",
    "prepare_avatar",
]

METADATA_NAMESPACE: Final = "urn:xmpp:avatar:metadata"
DATA_NAMESPACE: Final = "urn:xmpp:avatar:data"
#: The payload namespace of :func:`encode` / :func:`decode` (the metadata item).
NAMESPACE: Final = METADATA_NAMESPACE
# The payload namespaces of the pre-1.0 XEP-0084 drafts, used on the suite's legacy avatar
# nodes (same URIs as the node names). Not in the official schemas.
LEGACY_METADATA_NAMESPACE: Final = "http://jabber.org/protocol/avatar#metadata"
LEGACY_DATA_NAMESPACE: Final = "http://jabber.org/protocol/avatar#data"

#: Default publishing limit on the image size (bytes).
DEFAULT_MAX_BYTES: Final = 64 * 1024
#: Default longest side when :func:`prepare_avatar` downscales. XEP-0084 recommends 64 px
#: (32-96); current clients show avatars larger than that on high-DPI screens.
DEFAULT_MAX_DIMENSION: Final = 256

_UNSIGNED_INT_MAX: Final = 2**32 - 1
_UNSIGNED_SHORT_MAX: Final = 2**16 - 1
_UNSIGNED_RE = re.compile(r"^\+?[0-9]+$")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class AvatarInfo:
    """One <info/> of an avatar metadata item."""

    id: str
    bytes: int
    type: str
    width: int | None = None
    height: int | None = None
    url: str | None = None


@dataclass(frozen=True)
class AvatarMetadata:
    """A non-empty metadata item: the available versions of the avatar."""

    infos: tuple[AvatarInfo, ...]


def _check_limit(avatar: Avatar, max_bytes: int) -> None:
    if avatar.bytes > max_bytes:
        raise CodecError("data", f"avatar is {avatar.bytes} bytes; the limit is {max_bytes}")


def encode_data(
    avatar: Avatar, *, max_bytes: int = DEFAULT_MAX_BYTES, legacy: bool = False
) -> ET.Element:
    """The data item payload (publish with item id ``avatar.id``).

    ``legacy=True`` uses the legacy payload namespace, for the legacy avatar nodes only.
    """
    _check_limit(avatar, max_bytes)
    el = ET.Element(qname(LEGACY_DATA_NAMESPACE if legacy else DATA_NAMESPACE, "data"))
    el.text = base64.b64encode(avatar.data).decode("ascii")
    return el


def encode_metadata(
    avatar: Avatar | Clear, *, max_bytes: int = DEFAULT_MAX_BYTES, legacy: bool = False
) -> ET.Element:
    """The metadata item payload; ``<metadata/>`` (disable) for ``Clear(kind=avatar)``.

    ``legacy=True`` uses the legacy payload namespace, for the legacy avatar nodes only.
    """
    namespace = LEGACY_METADATA_NAMESPACE if legacy else METADATA_NAMESPACE
    root = ET.Element(qname(namespace, "metadata"))
    if isinstance(avatar, Clear):
        if avatar.kind is not Kind.AVATAR:
            raise CodecError(None, f"cannot encode Clear(kind={avatar.kind.value}) as <metadata/>")
        return root
    _check_limit(avatar, max_bytes)
    ET.SubElement(
        root,
        qname(namespace, "info"),
        {
            "bytes": str(avatar.bytes),
            "height": str(avatar.height),
            "id": avatar.id,
            "type": avatar.mime_type,
            "width": str(avatar.width),
        },
    )
    return root


def encode(data: Avatar | Clear) -> ET.Element:
    """The metadata payload (see module doc); same as :func:`encode_metadata`."""
    return encode_metadata(data)


def decode_data(el: ET.Element, *, max_bytes: int = AVATAR_MAX_BYTES) -> Avatar:
    """An avatar from a data item alone (type and size are read from the image)."""
    expect_root(el, (DATA_NAMESPACE, LEGACY_DATA_NAMESPACE), "data")
    if any(isinstance(child.tag, str) for child in el):
        raise CodecError("data", "must contain only base64 text")
    # xs:base64Binary allows whitespace; clients wrap lines at 76 characters.
    text = _WHITESPACE.sub("", el.text or "")
    if not text:
        raise CodecError("data", "empty avatar data")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CodecError("data", "not valid base64") from None
    if len(raw) > max_bytes:
        raise CodecError("data", f"avatar is {len(raw)} bytes; the limit is {max_bytes}")
    try:
        real = sniff_image(raw)
    except ImageProblem as exc:
        raise CodecError("data", str(exc)) from None
    return build_model(
        lambda: Avatar(data=raw, mime_type=real.mime_type, width=real.width, height=real.height)
    )


def _unsigned(info: ET.Element, attr: str, maximum: int) -> int | None:
    """An optional xs:unsignedInt/unsignedShort attribute of <info/>."""
    raw = info.get(attr)
    if raw is None:
        return None
    token = raw.strip()
    if not _UNSIGNED_RE.match(token) or int(token) > maximum:
        raise CodecError(f"info@{attr}", f"{raw!r} is not an integer in 0..{maximum}")
    return int(token)


def _info(info: ET.Element) -> AvatarInfo:
    for attr in ("id", "type", "bytes"):
        if not info.get(attr):
            raise CodecError(f"info@{attr}", "required attribute is missing or empty")
    return AvatarInfo(
        id=info.get("id", ""),
        bytes=_unsigned(info, "bytes", _UNSIGNED_INT_MAX) or 0,
        type=info.get("type", ""),
        width=_unsigned(info, "width", _UNSIGNED_SHORT_MAX),
        height=_unsigned(info, "height", _UNSIGNED_SHORT_MAX),
        url=info.get("url") or None,
    )


def decode_metadata(el: ET.Element) -> AvatarMetadata | Clear:
    """Parse a metadata item; ``<metadata/>`` without <info/> is ``Clear`` (disabled)."""
    namespace = expect_root(el, (METADATA_NAMESPACE, LEGACY_METADATA_NAMESPACE), "metadata")
    infos = []
    for local, child in children_in(el, namespace):
        if local == "info":
            infos.append(_info(child))
        elif local != "pointer":  # <pointer/>: avatars hosted elsewhere; nothing to do
            raise CodecError(local, "unexpected element in <metadata/>")
    if not infos:
        return Clear(kind=Kind.AVATAR)
    return AvatarMetadata(tuple(infos))


def decode_avatar(metadata: ET.Element, data: ET.Element | None) -> Avatar | Clear:
    """The avatar a metadata item announces, checked against its data item."""
    meta = decode_metadata(metadata)
    if isinstance(meta, Clear):
        return meta
    if data is None:
        raise CodecError("data", "the metadata announces an avatar but no data item was given")
    avatar = decode_data(data)
    info = next((i for i in meta.infos if i.id == avatar.id), None)
    if info is None:
        raise CodecError("info@id", f"no <info/> has the data's SHA-1 {avatar.id}")
    if info.bytes != avatar.bytes:
        raise CodecError("info@bytes", f"says {info.bytes} but the data has {avatar.bytes} bytes")
    if info.type != avatar.mime_type:
        raise CodecError("info@type", f"says {info.type} but the data is {avatar.mime_type}")
    for attr, declared, real in (
        ("width", info.width, avatar.width),
        ("height", info.height, avatar.height),
    ):
        if declared is not None and declared != real:
            raise CodecError(f"info@{attr}", f"says {declared} but the image has {real}")
    return avatar


def decode(el: ET.Element) -> Avatar | Clear:
    """Decode either avatar payload.

    A data item gives the :class:`Avatar`; an empty metadata item gives ``Clear``. A
    non-empty metadata item refers to a data item it doesn't contain, so it raises
    :class:`CodecError`: use :func:`decode_metadata` or :func:`decode_avatar` for it.
    """
    _namespace, local = split_tag(el.tag)
    if local == "data":
        return decode_data(el)
    meta = decode_metadata(el)
    if isinstance(meta, Clear):
        return meta
    raise CodecError(
        "info", "a metadata item only refers to the image; decode the data item (decode_avatar)"
    )


def prepare_avatar(
    image: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_dimension: int = DEFAULT_MAX_DIMENSION,
    downscale: bool = True,
) -> Avatar:
    """An :class:`Avatar` from arbitrary image bytes, within the publishing limits.

    An image of a supported type within ``max_bytes`` and ``max_dimension`` is used as is.
    A larger one is re-encoded as a downscaled PNG when ``downscale`` is true, and refused
    (``CodecError`` on ``data``) otherwise. Unsupported types are always refused.
    """
    try:
        real = sniff_image(image)
    except ImageProblem as exc:
        raise CodecError("data", str(exc)) from None
    fits = len(image) <= max_bytes and max(real.width, real.height) <= max_dimension
    if not fits:
        if not downscale:
            raise CodecError(
                "data",
                f"image is {len(image)} bytes, {real.width}x{real.height} px; the limits are "
                f"{max_bytes} bytes and {max_dimension} px",
            )
        try:
            image = downscale_png(image, max_dimension=max_dimension, max_bytes=max_bytes)
        except ImageProblem as exc:
            raise CodecError("data", str(exc)) from None
    try:
        return Avatar.from_image(image)
    except EventValidationError as exc:
        raise CodecError(exc.field, exc.reason) from exc
