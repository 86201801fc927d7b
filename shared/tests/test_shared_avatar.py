"""XEP-0084 avatars: type and size checks, limits, downscaling, metadata/data consistency."""

from __future__ import annotations

import base64
import io
import random
import xml.etree.ElementTree as ET

import pytest
import xmlschema
from PIL import Image

from pepline_shared.errors import CodecError, EventValidationError
from pepline_shared.events import AVATAR_MAX_BYTES, Avatar, Clear, Kind
from pepline_shared.xep import avatar
from pepline_shared.xep.nodes import (
    AVATAR_DATA_NODE,
    AVATAR_METADATA_NODE,
    LEGACY_AVATAR_DATA_NODE,
    LEGACY_AVATAR_METADATA_NODE,
)
from pepline_shared.xep.registry import decode_payload, pep_items


def image(fmt: str, width: int, height: int, *, noise: bool = False) -> bytes:
    """An image; ``noise`` makes it incompressible (so its size in bytes is predictable)."""
    if noise:
        rng = random.Random(f"{fmt}{width}x{height}")  # deterministic across runs
        img = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    else:
        img = Image.new("RGB", (width, height), (200, 30, 60))
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - test fixtures, not untrusted input


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_from_image_reads_type_and_size(fmt: str, mime: str) -> None:
    data = image(fmt, 33, 17)
    av = Avatar.from_image(data)
    assert (av.mime_type, av.width, av.height, av.bytes) == (mime, 33, 17, len(data))
    assert len(av.id) == 40


def test_unsupported_type_is_rejected_naming_the_field() -> None:
    bmp = image("BMP", 8, 8)
    with pytest.raises(EventValidationError) as info:
        Avatar.from_image(bmp)
    assert info.value.field == "data"
    assert "BMP" in info.value.reason
    with pytest.raises(EventValidationError) as info:
        Avatar(data=bmp, mime_type="image/bmp", width=8, height=8)
    assert info.value.field == "mime_type"
    with pytest.raises(CodecError) as codec_info:
        avatar.prepare_avatar(bmp)
    assert codec_info.value.element == "data"


def test_declared_type_and_size_must_match_the_bytes() -> None:
    png = image("PNG", 10, 20)
    with pytest.raises(EventValidationError) as info:
        Avatar(data=png, mime_type="image/jpeg", width=10, height=20)
    assert info.value.field == "mime_type"
    with pytest.raises(EventValidationError) as info:
        Avatar(data=png, mime_type="image/png", width=20, height=10)
    assert info.value.field == "width"
    with pytest.raises(EventValidationError) as info:
        Avatar(data=b"not an image", mime_type="image/png", width=1, height=1)
    assert info.value.field == "data"
    with pytest.raises(EventValidationError) as info:
        Avatar(data=png[:-20], mime_type="image/png", width=10, height=20)  # truncated
    assert info.value.field == "data"


def test_oversized_avatar_is_rejected() -> None:
    huge = image("PNG", 256, 256, noise=True)
    assert len(huge) > AVATAR_MAX_BYTES
    with pytest.raises(EventValidationError) as info:
        Avatar(data=huge, mime_type="image/png", width=256, height=256)
    assert info.value.field == "data"
    # Within the model's ceiling but over the default publishing limit (64 KiB).
    big = Avatar.from_image(image("PNG", 160, 160, noise=True))
    assert avatar.DEFAULT_MAX_BYTES < big.bytes <= AVATAR_MAX_BYTES
    for encode in (avatar.encode_data, avatar.encode_metadata):
        with pytest.raises(CodecError) as codec_info:
            encode(big)
        assert codec_info.value.element == "data"
    assert avatar.encode_data(big, max_bytes=AVATAR_MAX_BYTES).text
    with pytest.raises(CodecError):
        pep_items(big)
    assert len(pep_items(big, avatar_max_bytes=AVATAR_MAX_BYTES)) == 2
    with pytest.raises(CodecError) as codec_info:
        avatar.prepare_avatar(image("PNG", 160, 160, noise=True), downscale=False)
    assert codec_info.value.element == "data"


def test_prepare_avatar_keeps_a_small_image_as_is() -> None:
    jpeg = image("JPEG", 64, 48)
    prepared = avatar.prepare_avatar(jpeg)
    assert prepared.data == jpeg
    assert prepared.mime_type == "image/jpeg"


def test_prepare_avatar_downscales_too_large_images_to_png() -> None:
    raw = image("PNG", 600, 400, noise=True)
    prepared = avatar.prepare_avatar(raw)
    assert prepared.mime_type == "image/png"
    assert prepared.bytes <= avatar.DEFAULT_MAX_BYTES
    assert max(prepared.width, prepared.height) <= avatar.DEFAULT_MAX_DIMENSION
    # Aspect ratio kept (within rounding).
    assert abs(prepared.width / prepared.height - 1.5) < 0.05
    # Too many pixels but few bytes: downscaled to the pixel limit.
    flat = avatar.prepare_avatar(image("JPEG", 1000, 500), max_dimension=100)
    assert (flat.mime_type, flat.width, flat.height) == ("image/png", 100, 50)


def test_decode_avatar_checks_metadata_against_data() -> None:
    av = Avatar.from_image(image("PNG", 4, 4))
    data_el = avatar.encode_data(av)

    def meta(**attrs: str) -> ET.Element:
        base = {"id": av.id, "bytes": str(av.bytes), "type": "image/png", "width": "4"}
        fields = " ".join(f"{k}='{v}'" for k, v in {**base, **attrs}.items())
        return parse(f"<metadata xmlns='urn:xmpp:avatar:metadata'><info {fields}/></metadata>")

    assert avatar.decode_avatar(meta(), data_el) == av
    for attrs, element in [
        ({"id": "0" * 40}, "info@id"),
        ({"bytes": "1"}, "info@bytes"),
        ({"type": "image/gif"}, "info@type"),
        ({"width": "5"}, "info@width"),
    ]:
        with pytest.raises(CodecError) as info:
            avatar.decode_avatar(meta(**attrs), data_el)
        assert info.value.element == element
    with pytest.raises(CodecError) as info:
        avatar.decode_avatar(meta(), None)
    assert info.value.element == "data"
    empty = parse("<metadata xmlns='urn:xmpp:avatar:metadata'/>")
    assert avatar.decode_avatar(empty, None) == Clear(kind=Kind.AVATAR)


def test_non_empty_metadata_alone_cannot_be_decoded_into_an_avatar() -> None:
    av = Avatar.from_image(image("PNG", 2, 2))
    with pytest.raises(CodecError) as info:
        decode_payload(AVATAR_METADATA_NODE, avatar.encode_metadata(av))
    assert info.value.element == "info"


def test_data_item_tolerates_line_wrapped_base64() -> None:
    av = Avatar.from_image(image("GIF", 9, 9))
    b64 = base64.b64encode(av.data).decode()
    wrapped = "\n".join(b64[i : i + 76] for i in range(0, len(b64), 76))
    doc = f"<data xmlns='urn:xmpp:avatar:data'>\n{wrapped}\n</data>"
    assert decode_payload(AVATAR_DATA_NODE, parse(doc)) == av


@pytest.mark.parametrize(
    "text", ["", "!!!not base64!!!", base64.b64encode(b"plain text, not an image").decode()]
)
def test_bad_data_item_is_rejected(text: str) -> None:
    with pytest.raises(CodecError) as info:
        avatar.decode_data(parse(f"<data xmlns='urn:xmpp:avatar:data'>{text}</data>"))
    assert info.value.element == "data"


def test_legacy_nodes_use_legacy_namespaces(
    payload_schemas: dict[str, xmlschema.XMLSchema],
) -> None:
    av = Avatar.from_image(image("PNG", 3, 3))
    data_item, meta_item = pep_items(av, legacy_avatar=True)
    assert (data_item.node, meta_item.node) == (
        LEGACY_AVATAR_DATA_NODE,
        LEGACY_AVATAR_METADATA_NODE,
    )
    assert data_item.payload.tag == "{http://jabber.org/protocol/avatar#data}data"
    assert decode_payload(data_item.node, data_item.payload) == av
    assert avatar.decode_avatar(meta_item.payload, data_item.payload) == av
    default_data, default_meta = pep_items(av)
    assert (default_data.node, default_meta.node) == (AVATAR_DATA_NODE, AVATAR_METADATA_NODE)
    payload_schemas["urn:xmpp:avatar:metadata"].validate(default_meta.payload)
    (clear_item,) = pep_items(Clear(kind=Kind.AVATAR))
    assert (clear_item.node, clear_item.item_id) == (AVATAR_METADATA_NODE, "current")
