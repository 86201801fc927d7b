"""Image sniffing and downscaling for avatars (Pillow, in memory only).

An avatar's declared type and size must be what its bytes really are: XEP-0084 subscribers
trust the metadata <info/> to pick and lay out an image, so a lie there is a broken avatar.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Final

from PIL import Image, UnidentifiedImageError

__all__ = [
    "AVATAR_MIME_TYPES",
    "ImageInfo",
    "ImageProblem",
    "downscale_png",
    "sniff_image",
]

#: XEP-0084 only requires image/png; these are what XMPP clients commonly render.
AVATAR_MIME_TYPES: Final = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

_FORMAT_TO_MIME: Final = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}


class ImageProblem(ValueError):
    """The bytes are not an image of a supported type."""


@dataclass(frozen=True)
class ImageInfo:
    mime_type: str
    width: int
    height: int


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # A decompression-bomb warning becomes an error: an avatar never needs that.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except (
        UnidentifiedImageError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as exc:
        raise ImageProblem(f"not a readable image: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageProblem(f"not a readable image: {exc}") from None


def sniff_image(data: bytes) -> ImageInfo:
    """The real type and pixel size of ``data``; :class:`ImageProblem` if unsupported/corrupt."""
    image = _open(data)
    with image:
        fmt = image.format or "?"
        mime = _FORMAT_TO_MIME.get(fmt)
        if mime is None:
            raise ImageProblem(f"image type {fmt} is not one of {sorted(AVATAR_MIME_TYPES)}")
        width, height = image.size
        try:
            # verify() checks the data beyond the header (e.g. PNG chunk CRCs).
            image.verify()
        except Exception as exc:  # Pillow raises many types for corrupt data
            raise ImageProblem(f"corrupt {fmt} image: {exc}") from None
    return ImageInfo(mime, width, height)


def downscale_png(data: bytes, *, max_dimension: int, max_bytes: int) -> bytes:
    """Re-encode ``data`` as a PNG no larger than ``max_dimension`` px and ``max_bytes``.

    Keeps the aspect ratio; halves the size until the PNG fits. Raises :class:`ImageProblem`
    if even a 1x1 image does not fit (only for absurd limits).
    """
    image = _open(data)
    with image:
        image.load()
        frame = image.convert("RGBA")
    limit = max(1, max_dimension)
    while True:
        scaled = frame.copy()
        scaled.thumbnail((limit, limit), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        scaled.save(out, format="PNG", optimize=True)
        png = out.getvalue()
        if len(png) <= max_bytes:
            return png
        if limit == 1:
            raise ImageProblem(f"cannot fit the image into {max_bytes} bytes")
        limit = max(1, limit // 2)
