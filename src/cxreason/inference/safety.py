"""Input safety for inference: accept PNG, JPEG and DICOM; refuse anything else with a reason.

Every refusal is an :class:`InputRefused` carrying a one-line human ``reason``, a stable
machine ``code`` and the HTTP ``status`` to answer with. The CLI prints the reason in red and
exits 2; the server answers ``{"error": reason, "code": code}``. Nothing here ever lets a
stack trace reach the user. Decoding, size limits and the chest-radiograph plausibility check
live in :mod:`cxreason.data.images` (``load_image``, ``looks_like_chest_xray``); this module
only applies them to inference inputs and classifies their failures.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

logger = logging.getLogger(__name__)

#: Smallest accepted side, in pixels.
MIN_SIDE = 64
#: Largest accepted image, in pixels (width x height): 50 megapixels (a 7000x7000 scan).
MAX_PIXELS = 50_000_000
#: Largest accepted encoded image, in bytes.
MAX_IMAGE_BYTES = 64 * 1024 * 1024


class InputRefused(ValueError):
    """An input refused with a one-line ``reason``, a stable ``code`` and an HTTP ``status``."""

    def __init__(self, reason: str, code: str = "bad_input", status: int = 400):
        super().__init__(reason)
        self.reason, self.code, self.status = reason, code, status

    def as_json(self) -> dict[str, str]:
        return {"error": self.reason, "code": self.code}


@dataclass(frozen=True)
class ImageLimits:
    """Limits applied to every image: side in pixels, area in pixels, encoded size in bytes."""

    min_side: int = MIN_SIDE
    max_pixels: int = MAX_PIXELS
    max_bytes: int = MAX_IMAGE_BYTES
    check_chest: bool = True


def _name(src: str | os.PathLike | bytes, name: str | None) -> str:
    if name:
        return name
    return "uploaded image" if isinstance(src, bytes | bytearray) else str(src)


def load_safe_image(
    src: str | os.PathLike | bytes, *, name: str | None = None, limits: ImageLimits | None = None
) -> Image.Image:
    """Load one inference image (PNG/JPEG/DICOM path or bytes) as mode "L", or refuse it.

    Raises :class:`InputRefused` whose reason names the file (``name`` or the path).
    """
    from cxreason.data.images import ImageError, load_image, looks_like_chest_xray

    lim = limits or ImageLimits()
    label = _name(src, name)
    if isinstance(src, bytes | bytearray):
        if len(src) > lim.max_bytes:
            raise InputRefused(
                f"{label}: file is {len(src)} bytes, over the {lim.max_bytes}-byte limit",
                "image_too_large",
                413,
            )
        if not src:
            raise InputRefused(f"{label}: empty file", "not_an_image")
    else:
        p = Path(src)
        if not p.is_file():
            raise InputRefused(f"{label}: no such file", "not_found", 404)
        if p.stat().st_size > lim.max_bytes:
            raise InputRefused(
                f"{label}: file over the {lim.max_bytes}-byte limit", "image_too_large", 413
            )
    try:
        img, info = load_image(
            src, min_size=lim.min_side, max_pixels=lim.max_pixels, return_info=True
        )
    except ImageError as e:
        status = 404 if e.code == "not_found" else 400
        raise InputRefused(f"{label}: {e.reason}", e.code, status) from None
    except (OSError, ValueError, MemoryError) as e:  # defensive: the loader should classify all
        raise InputRefused(f"{label}: unreadable image ({type(e).__name__})", "corrupt") from None
    if lim.check_chest:
        ok, why = looks_like_chest_xray(img, info)
        if not ok:
            raise InputRefused(
                f"{label}: not plausibly a chest radiograph: {why}", "not_chest_xray", 422
            )
    return img


def decode_data_url(url: str, *, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """The bytes of a ``data:image/...;base64,...`` URL, or InputRefused (remote URLs refused)."""
    if not isinstance(url, str) or not url.startswith("data:"):
        raise InputRefused(
            "image_url must be a data: URL (remote image URLs are not fetched)", "bad_image_url"
        )
    head, sep, payload = url.partition(",")
    if not sep or ";base64" not in head:
        raise InputRefused(
            "image data URL must be base64-encoded (data:image/png;base64,...)", "bad_image_url"
        )
    if len(payload) * 3 // 4 > max_bytes:
        raise InputRefused(
            f"image data URL over the {max_bytes}-byte limit", "image_too_large", 413
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InputRefused("image data URL is not valid base64", "bad_image_url") from None


def to_png_bytes(img: Image.Image) -> bytes:
    """PNG encoding of a loaded image (for display: DICOM is shown as its rendered PNG)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
