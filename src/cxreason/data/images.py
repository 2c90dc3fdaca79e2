"""Load radiographs (PNG, JPEG, other Pillow formats, DICOM) as 8-bit grey PIL images.

Conventions
- Output is always a ``PIL.Image.Image`` in mode ``"L"`` (0 = black, 255 = white), bone bright:
  DICOM ``MONOCHROME1`` (inverted grey scale) is inverted on load.
- Deeper-than-8-bit data (16-bit PNG/TIFF, DICOM) is mapped to 8 bits by a min-max window over
  the image (after the DICOM modality LUT and VOI LUT / window, where the file carries them).
- Colour input is converted to grey (ITU-R 601 luma); the original colourfulness is kept in
  :class:`ImageInfo` (``was_color``, ``chroma``) so that callers can refuse colour photos
  (:func:`looks_like_chest_xray`).
- Size limits are checked from the header BEFORE any pixel is decoded: at most ``max_pixels``
  pixels (default 50,000,000, i.e. about 7071 x 7071) and at least ``min_size`` pixels on the
  shorter side (default 64). Pillow's decompression-bomb error is turned into ``ImageError`` too.
- Every failure raises :class:`ImageError` (a ``ValueError``) with a short human ``reason`` and a
  machine ``code``: ``not_found``, ``unreadable``, ``empty``, ``not_an_image``, ``corrupt``, ``truncated``,
  ``too_small``, ``too_large``, ``unsupported``.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

DEFAULT_MIN_SIZE = 64
DEFAULT_MAX_PIXELS = 50_000_000
#: Mean chroma (max-min over RGB, in [0, 1]) above which an image counts as coloured.
COLOR_CHROMA = 0.02
_DICM_OFFSET = 128

ERROR_CODES = (
    "not_found",
    "unreadable",
    "empty",
    "not_an_image",
    "corrupt",
    "truncated",
    "too_small",
    "too_large",
    "unsupported",
)


class ImageError(ValueError):
    """An image that cannot be used; ``code`` is machine-readable, ``reason`` is for humans."""

    def __init__(self, reason: str, code: str = "corrupt", source: str | None = None):
        self.reason, self.code, self.source = reason, code, source
        super().__init__(f"{source}: {reason}" if source else reason)


@dataclass
class ImageInfo:
    """What was learnt while loading: format, original size/mode/bit depth, colourfulness."""

    format: str  # "PNG" | "JPEG" | "DICOM" | other Pillow format name
    width: int
    height: int
    mode: str  # original Pillow mode, or DICOM photometric interpretation
    bits: int  # bits per sample of the stored data
    was_color: bool
    chroma: float  # mean (max-min) over RGB channels in [0, 1]; 0 for grey input
    modality: str | None = None  # DICOM Modality (CR, DX, ...)
    photometric: str | None = None  # DICOM PhotometricInterpretation
    inverted: bool = False  # MONOCHROME1 was inverted

    def to_dict(self) -> dict:
        return asdict(self)


def load_image(
    src: str | os.PathLike | bytes,
    *,
    min_size: int = DEFAULT_MIN_SIZE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    return_info: bool = False,
) -> Image.Image | tuple[Image.Image, ImageInfo]:
    """Load ``src`` (a path or the file's bytes) as an 8-bit grey ``"L"`` image.

    ``min_size``: minimum of width and height in pixels; ``max_pixels``: maximum width*height,
    checked from the header before decoding. With ``return_info`` returns ``(image, ImageInfo)``.
    Raises :class:`ImageError`.
    """
    name, data = _read_source(src)
    try:
        img, info = _dispatch(data, name, min_size, max_pixels)
    except ImageError as e:
        e.source = e.source or name
        raise ImageError(e.reason, e.code, e.source) from e
    return (img, info) if return_info else img


def _read_source(src: str | os.PathLike | bytes) -> tuple[str | None, bytes]:
    if isinstance(src, (bytes, bytearray, memoryview)):
        data, name = bytes(src), None
    else:
        name = str(src)
        try:
            data = Path(src).read_bytes()
        except FileNotFoundError:
            raise ImageError("file not found", "not_found", name) from None
        except IsADirectoryError:
            raise ImageError("is a directory, not an image file", "not_an_image", name) from None
        except OSError as e:
            raise ImageError(f"cannot read file: {e.strerror or e}", "unreadable", name) from None
    if not data:
        raise ImageError("empty file", "empty", name)
    return name, data


def _dispatch(
    data: bytes, name: str | None, min_size: int, max_pixels: int
) -> tuple[Image.Image, ImageInfo]:
    """DICOM by its magic; else Pillow; a ``.dcm`` file Pillow cannot identify is tried as a
    DICOM without preamble."""
    if data[_DICM_OFFSET : _DICM_OFFSET + 4] == b"DICM":
        return _load_dicom(data, min_size, max_pixels)
    try:
        return _load_pillow(data, min_size, max_pixels)
    except ImageError as e:
        named_dicom = (name or "").lower().endswith((".dcm", ".dicom"))
        # a DICOM without preamble starts with a group 0x0002 or 0x0008 tag (little endian)
        if e.code != "not_an_image" or not (named_dicom or data[:2] in (b"\x02\x00", b"\x08\x00")):
            raise
    return _load_dicom(data, min_size, max_pixels)


def _check_size(width: int, height: int, min_size: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"image too large: {width}x{height} = {width * height} pixels > {max_pixels}",
            "too_large",
        )
    if min(width, height) < min_size:
        raise ImageError(
            f"image too small: {width}x{height} (minimum side {min_size})", "too_small"
        )


# --------------------------------------------------------------------------- Pillow formats


def _load_pillow(data: bytes, min_size: int, max_pixels: int) -> tuple[Image.Image, ImageInfo]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"image too large (decompression bomb): {e}", "too_large") from None
    except UnidentifiedImageError:
        raise ImageError("not a recognised image file", "not_an_image") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"corrupt image header: {e}", "corrupt") from None
    fmt = im.format or "unknown"
    _check_size(im.width, im.height, min_size, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"image too large (decompression bomb): {e}", "too_large") from None
    except OSError as e:
        msg = str(e)
        code = (
            "truncated" if "truncat" in msg.lower() or "broken data" in msg.lower() else "corrupt"
        )
        raise ImageError(f"cannot decode {fmt} data: {msg}", code) from None
    except (SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"cannot decode {fmt} data: {e}", "corrupt") from None
    mode = im.mode
    if getattr(im, "n_frames", 1) > 1:
        im.seek(0)
    if mode in ("L", "RGB") and im.getexif().get(0x0112, 1) != 1:
        im = ImageOps.exif_transpose(im)  # camera/phone orientation tag
    grey, chroma, bits = _pillow_to_grey(im)
    info = ImageInfo(
        format=fmt,
        width=im.width,
        height=im.height,
        mode=mode,
        bits=bits,
        was_color=chroma > COLOR_CHROMA,
        chroma=chroma,
    )
    return grey, info


def _pillow_to_grey(im: Image.Image) -> tuple[Image.Image, float, int]:
    """(grey "L" image, mean chroma in [0,1], bits per sample) for any Pillow mode."""
    mode = im.mode
    if mode == "L":
        return im.copy(), 0.0, 8
    if mode == "1":
        return im.convert("L"), 0.0, 1
    if mode in ("LA", "La"):
        return im.getchannel("L").copy(), 0.0, 8
    if mode.startswith("I") or mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        bits = 16 if mode.startswith("I;16") else 32
        if mode == "I" and arr.size and 0 <= arr.min() and arr.max() <= 65535:
            bits = 16
        return _to_uint8_image(arr), 0.0, bits
    rgb = im.convert("RGB")  # P, PA, RGBA, CMYK, YCbCr, LAB, HSV ...
    arr = np.asarray(rgb, dtype=np.int16)
    chroma = _mean_chroma(arr)
    return rgb.convert("L"), chroma, 8


def _mean_chroma(rgb: np.ndarray) -> float:
    """Mean over pixels of (max - min) over the colour channels, scaled to [0, 1] (8-bit input)."""
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        return 0.0
    c = rgb[..., :3]
    return float((c.max(axis=2) - c.min(axis=2)).mean() / 255.0)


def _to_uint8_image(
    arr: np.ndarray, lo: float | None = None, hi: float | None = None
) -> Image.Image:
    """Min-max (or ``lo``..``hi`` window) map a numeric 2-D array to an 8-bit "L" image."""
    arr = np.asarray(arr, dtype=np.float64)
    finite = np.isfinite(arr)
    if not finite.all():
        arr = np.where(finite, arr, np.nan)
    lo = float(np.nanmin(arr)) if lo is None else lo
    hi = float(np.nanmax(arr)) if hi is None else hi
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise ImageError("image has no finite pixel values", "corrupt")
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    out = np.nan_to_num((arr - lo) * scale, nan=0.0)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode="L")


# --------------------------------------------------------------------------- DICOM


def _load_dicom(data: bytes, min_size: int, max_pixels: int) -> tuple[Image.Image, ImageInfo]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=data[128:132] != b"DICM")
    except InvalidDicomError as e:
        raise ImageError(f"not a DICOM file: {e}", "not_an_image") from None
    except Exception as e:  # pydicom raises many types on garbage input
        raise ImageError(f"corrupt DICOM: {type(e).__name__}: {e}", "corrupt") from None
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        code = "not_an_image" if "Rows" not in ds else "corrupt"
        raise ImageError("DICOM file has no pixel data", code)
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    _check_size(cols, rows, min_size, max(1, max_pixels // max(1, frames)))
    arr = _dicom_pixels(ds)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if arr.ndim == 4 or (arr.ndim == 3 and photometric.startswith("MONO")):
        arr = arr[0]  # multi-frame: first frame
    chroma = 0.0
    if arr.ndim == 3:  # colour DICOM (RGB / YBR): to grey like Pillow does
        rgb = _dicom_rgb(arr, ds)
        chroma = _mean_chroma(rgb.astype(np.int16))
        grey = Image.fromarray(rgb.astype(np.uint8), mode="RGB").convert("L")
        inverted = False
    else:
        grey, inverted = _dicom_grey(arr, ds, photometric)
    info = ImageInfo(
        format="DICOM",
        width=cols,
        height=rows,
        mode=photometric,
        bits=int(ds.get("BitsStored", ds.get("BitsAllocated", 8)) or 8),
        was_color=chroma > COLOR_CHROMA,
        chroma=chroma,
        modality=str(ds.get("Modality")) if "Modality" in ds else None,
        photometric=photometric,
        inverted=inverted,
    )
    return grey, info


def _dicom_pixels(ds) -> np.ndarray:
    try:
        return ds.pixel_array
    except (NotImplementedError, RuntimeError) as e:
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "truncat" in msg.lower() or "shorter than" in msg.lower():
            raise ImageError(f"truncated DICOM pixel data: {msg}", "truncated") from None
        raise ImageError(f"cannot decode DICOM pixel data ({ts}): {msg}", "unsupported") from None
    except ValueError as e:
        msg = str(e).splitlines()[0]
        code = "truncated" if "length" in msg.lower() or "truncat" in msg.lower() else "corrupt"
        raise ImageError(f"bad DICOM pixel data: {msg}", code) from None
    except Exception as e:
        raise ImageError(f"bad DICOM pixel data: {type(e).__name__}: {e}", "corrupt") from None


def _dicom_rgb(arr: np.ndarray, ds) -> np.ndarray:
    photometric = str(ds.get("PhotometricInterpretation", "RGB")).upper()
    if photometric.startswith("YBR"):
        from pydicom.pixels import convert_color_space

        arr = convert_color_space(arr, photometric, "RGB")
    bits = int(ds.get("BitsStored", 8) or 8)
    if bits > 8:
        arr = arr.astype(np.float64) * (255.0 / (2**bits - 1))
    return np.clip(arr, 0, 255)


def _dicom_grey(arr: np.ndarray, ds, photometric: str) -> tuple[Image.Image, bool]:
    """Modality LUT, then VOI LUT / window, then min-max to 8 bits; MONOCHROME1 inverted."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    out = np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
    has_voi = "VOILUTSequence" in ds or "WindowCenter" in ds
    if has_voi:
        try:
            out = np.asarray(apply_voi_lut(out, ds, index=0), dtype=np.float64)
        except Exception as e:  # a malformed window must not make the image unusable
            log.warning("ignoring unusable DICOM VOI LUT/window: %s", e)
    img = _to_uint8_image(out)
    inverted = photometric == "MONOCHROME1"
    if inverted:
        img = Image.fromarray(255 - np.asarray(img), mode="L")
    return img, inverted


# --------------------------------------------------------------------------- plausibility


def image_stats(img: Image.Image | np.ndarray, info: ImageInfo | None = None) -> dict[str, float]:
    """Simple statistics of an image: size, aspect (long/short side), grey mean/std in [0,1],
    share of pixels near the median (flatness), and chroma (from ``info`` or the image itself)."""
    arr = np.asarray(img)
    chroma = info.chroma if info is not None else 0.0
    if arr.ndim == 3:
        if info is None:
            chroma = _mean_chroma(arr[..., :3].astype(np.int16))
        arr = np.asarray(Image.fromarray(arr[..., :3].astype(np.uint8), mode="RGB").convert("L"))
    h, w = arr.shape[:2]
    g = arr.astype(np.float64) / (255.0 if arr.dtype == np.uint8 else max(float(arr.max()), 1.0))
    med = float(np.median(g))
    return {
        "width": float(w),
        "height": float(h),
        "aspect": float(max(w, h) / max(1, min(w, h))),
        "mean": float(g.mean()),
        "std": float(g.std()),
        "flat_share": float((np.abs(g - med) < 0.02).mean()),
        "chroma": float(chroma),
    }


def looks_like_chest_xray(
    img: Image.Image | np.ndarray,
    info: ImageInfo | None = None,
    *,
    max_chroma: float = 0.08,
    max_aspect: float = 2.0,
    min_std: float = 0.04,
    max_flat_share: float = 0.9,
) -> tuple[bool, str]:
    """Cheap plausibility check for a radiograph: ``(ok, reason)``.

    Refuses strongly coloured images (mean chroma > ``max_chroma``; pass the ``info`` from
    :func:`load_image` since the loaded image is already grey), extreme aspect ratios
    (long/short side > ``max_aspect``), and nearly constant images (grey std < ``min_std`` or
    more than ``max_flat_share`` of pixels within 0.02 of the median). Not a classifier.
    """
    s = image_stats(img, info)
    if s["chroma"] > max_chroma:
        return False, f"strongly coloured image (mean chroma {s['chroma']:.2f} > {max_chroma})"
    if s["aspect"] > max_aspect:
        return False, f"extreme aspect ratio {s['aspect']:.2f} (> {max_aspect})"
    if s["std"] < min_std or s["flat_share"] > max_flat_share:
        return (
            False,
            f"nearly constant image (std {s['std']:.3f}, flat share {s['flat_share']:.2f})",
        )
    return True, "plausible grey-scale radiograph"
