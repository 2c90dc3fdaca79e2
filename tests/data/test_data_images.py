"""Image loading: real sample radiographs, synthetic DICOMs, and hostile files."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from cxreason.data.images import ImageError, image_stats, load_image, looks_like_chest_xray


def _chest_like(h: int = 128, w: int = 128) -> np.ndarray:
    """A float [0,1] image: dark air border, bright body, darker lungs (bone/body > air)."""
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w]).reshape(2, 1, 1)
    body = ((x - 0.5) / 0.42) ** 2 + ((y - 0.55) / 0.5) ** 2 < 1
    lungs = (((np.abs(x - 0.5) - 0.2) / 0.12) ** 2 + ((y - 0.5) / 0.3) ** 2) < 1
    img = 0.05 + 0.7 * body - 0.3 * lungs + 0.02 * np.sin(40 * y)
    return np.clip(img, 0, 1)


def _write_dicom(
    path: Path,
    pixels: np.ndarray,
    photometric: str = "MONOCHROME2",
    slope: float | None = None,
    intercept: float | None = None,
    window: tuple[float, float] | None = None,
) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept or 0.0
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = pixels.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


# ------------------------------------------------------------------ real samples


def test_real_png_samples(samples_dir: Path) -> None:
    for name in ("nih_00000001_000.png", "nih_00027426_000.png"):
        img, info = load_image(samples_dir / name, return_info=True)
        assert img.mode == "L" and img.size == (512, 512)
        assert info.format == "PNG" and not info.was_color
        assert looks_like_chest_xray(img, info)[0]


def test_real_openi_rgb_png_is_grey(shared_data: Path) -> None:
    files = sorted((shared_data / "openi" / "images").glob("*.png"))
    if not files:
        pytest.skip("no Open-I images")
    for f in files:
        img, info = load_image(f, return_info=True)
        assert img.mode == "L" and info.mode == "RGB" and not info.was_color
        rgb = np.asarray(Image.open(f).convert("RGB"))
        assert np.abs(np.asarray(img).astype(int) - rgb[..., 0]).max() <= 1


def test_real_dicom_monochrome2(samples_dir: Path) -> None:
    path = samples_dir / "siim_pneumothorax_sample.dcm"
    img, info = load_image(path, return_info=True)
    raw = pydicom.dcmread(path).pixel_array.astype(float)
    out = np.asarray(img).astype(float)
    assert img.mode == "L" and img.size == (1024, 1024)
    assert info.photometric == "MONOCHROME2" and not info.inverted
    assert np.corrcoef(raw.ravel(), out.ravel())[0, 1] > 0.99  # increasing mapping


def test_real_dicom_monochrome1_is_inverted(samples_dir: Path) -> None:
    path = samples_dir / "monochrome1_sample.dcm"
    img, info = load_image(path, return_info=True)
    assert info.photometric == "MONOCHROME1" and info.inverted
    raw = pydicom.dcmread(path).pixel_array.astype(float)
    out = np.asarray(img).astype(float)
    # the stored values map to grey through a DECREASING function
    assert np.corrcoef(raw.ravel(), out.ravel())[0, 1] < -0.99
    lo, hi = raw < np.percentile(raw, 10), raw > np.percentile(raw, 90)
    assert out[lo].mean() > out[hi].mean() + 100


def test_synthetic_monochrome1_bone_bright(tmp_path: Path) -> None:
    body = _chest_like(96, 96)
    stored = np.rint((1.0 - body) * 4000).astype(np.uint16)  # MONOCHROME1: air stored high
    path = _write_dicom(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1")
    out = np.asarray(load_image(path)).astype(float)
    border = np.r_[out[:4].ravel(), out[-4:].ravel(), out[:, :4].ravel(), out[:, -4:].ravel()]
    assert out[40:60, 44:52].mean() > border.mean() + 100  # body/mediastinum brighter than air
    assert np.corrcoef(out.ravel(), body.ravel())[0, 1] > 0.99


def test_dicom_modality_lut_and_window(tmp_path: Path) -> None:
    ramp = np.tile(np.arange(0, 4000, 4000 / 128), (96, 1)).astype(np.uint16)
    path = _write_dicom(
        tmp_path / "w.dcm", ramp, slope=2.0, intercept=-1000.0, window=(2000.0, 2000.0)
    )
    out = np.asarray(load_image(path)).astype(int)
    # modality value 2*p-1000; window [1000, 3000] -> p in [1000, 2000] is the ramp part
    row = out[0]
    p = ramp[0].astype(float)
    assert row[p * 2 - 1000 <= 1000].max() == 0
    assert row[p * 2 - 1000 >= 3000].min() == 255
    mid = (p * 2 - 1000 > 1100) & (p * 2 - 1000 < 2900)
    assert np.all(np.diff(row[mid]) >= 0) and row[mid].max() > row[mid].min() + 150


def test_sixteen_bit_png_rescaled(tmp_path: Path) -> None:
    arr = (_chest_like() * 50000 + 1000).astype(np.uint16)
    path = tmp_path / "x16.png"
    Image.fromarray(arr).save(path)
    img, info = load_image(path, return_info=True)
    out = np.asarray(img)
    assert info.bits == 16 and img.mode == "L"
    assert out.min() == 0 and out.max() == 255
    assert np.corrcoef(out.ravel().astype(float), arr.ravel().astype(float))[0, 1] > 0.999


def test_rgb_jpeg_and_bytes_input(tmp_path: Path) -> None:
    grey = (_chest_like() * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(np.dstack([grey] * 3), mode="RGB").save(buf, format="JPEG", quality=90)
    img, info = load_image(buf.getvalue(), return_info=True)
    assert info.format == "JPEG" and info.mode == "RGB" and not info.was_color
    assert img.mode == "L" and np.abs(np.asarray(img).astype(int) - grey).mean() < 4


def test_colour_photo_refused() -> None:
    rng = np.random.default_rng(0)
    photo = np.zeros((128, 160, 3), np.uint8)
    photo[..., 0] = 200
    photo[..., 1] = rng.integers(0, 255, (128, 160))
    photo[..., 2] = 30
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, format="PNG")
    img, info = load_image(buf.getvalue(), return_info=True)
    assert info.was_color and info.chroma > 0.3
    ok, reason = looks_like_chest_xray(img, info)
    assert not ok and "colour" in reason
    assert not looks_like_chest_xray(photo)[0]  # raw RGB array: chroma from the array


def test_plausibility_aspect_and_constant() -> None:
    assert not looks_like_chest_xray(np.full((128, 128), 120, np.uint8))[0]
    strip = (_chest_like(64, 400) * 255).astype(np.uint8)
    ok, reason = looks_like_chest_xray(strip)
    assert not ok and "aspect" in reason
    ok, _ = looks_like_chest_xray((_chest_like() * 255).astype(np.uint8))
    assert ok
    s = image_stats(Image.fromarray((_chest_like() * 255).astype(np.uint8)))
    assert s["aspect"] == 1.0 and 0.0 < s["mean"] < 1.0 and s["chroma"] == 0.0


# ------------------------------------------------------------------ hostile input


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width x height 1-bit pixels (no real pixel data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _code(src, **kw) -> str:
    with pytest.raises(ImageError) as ei:
        load_image(src, **kw)
    assert isinstance(ei.value, ValueError) and ei.value.reason
    return ei.value.code


def test_bomb_refused_from_header_quickly(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb_png(20000, 20000))
    assert path.stat().st_size < 500
    t0 = time.perf_counter()
    assert _code(path) == "too_large"
    # below Pillow's own bomb limit, our max_pixels still refuses before decoding
    assert _code(_bomb_png(9000, 9000)) == "too_large"
    assert _code(_bomb_png(3000, 3000), max_pixels=1_000_000) == "too_large"
    assert time.perf_counter() - t0 < 1.0


def test_bad_files(tmp_path: Path) -> None:
    good = io.BytesIO()
    Image.fromarray((_chest_like(256, 256) * 255).astype(np.uint8)).save(good, format="PNG")
    data = good.getvalue()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    assert _code(tmp_path / "trunc.png") == "truncated"
    (tmp_path / "notes.png").write_text("this is a text file, not an image\n")
    assert _code(tmp_path / "notes.png") == "not_an_image"
    rnd = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert _code(rnd) == "not_an_image"
    assert _code(tmp_path / "missing.png") == "not_found"
    assert _code(b"") == "empty"
    small = io.BytesIO()
    Image.new("L", (32, 400)).save(small, format="PNG")
    assert _code(small.getvalue()) == "too_small"
    (tmp_path / "fake.dcm").write_bytes(b"\x00" * 128 + b"DICM" + rnd[:200])
    assert _code(tmp_path / "fake.dcm") in {"corrupt", "not_an_image"}


def test_error_message_names_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(ImageError, match="notes.png"):
        load_image(path)


def test_truncated_dicom(tmp_path: Path) -> None:
    path = _write_dicom(tmp_path / "t.dcm", np.zeros((96, 96), np.uint16) + 100)
    data = path.read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) - 5000])
    assert _code(tmp_path / "cut.dcm") in {"truncated", "corrupt"}


def test_dicom_without_preamble_and_unsupported_syntax(tmp_path: Path) -> None:
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGLSLossless

    body = _chest_like(96, 96)
    path = _write_dicom(tmp_path / "a.dcm", np.rint(body * 4000).astype(np.uint16))
    ds = pydicom.dcmread(path)
    buf = io.BytesIO()
    ds.preamble = None
    ds.save_as(buf, enforce_file_format=False)  # no preamble, no "DICM" magic
    raw = buf.getvalue()
    assert raw[128:132] != b"DICM"
    out = np.asarray(load_image(raw)).astype(float)
    assert np.corrcoef(out.ravel(), body.ravel())[0, 1] > 0.99
    ds.file_meta.TransferSyntaxUID = JPEGLSLossless  # no JPEG-LS decoder installed
    ds.PixelData = encapsulate([b"\xff\xd8" + b"\x00" * 100])
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "ls.dcm", enforce_file_format=True)
    assert _code(tmp_path / "ls.dcm") in {"unsupported", "corrupt"}


def test_colour_dicom_is_grey_with_chroma(tmp_path: Path) -> None:
    rgb = np.zeros((80, 80, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 220, np.arange(80, dtype=np.uint8)[None, :] * 3, 20
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, generate_uid()
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PlanarConfiguration = 80, 80, 3, 0
    ds.PhotometricInterpretation = "RGB"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = rgb.tobytes()
    ds.save_as(tmp_path / "c.dcm", enforce_file_format=True)
    img, info = load_image(tmp_path / "c.dcm", return_info=True)
    assert img.mode == "L" and info.was_color and info.photometric == "RGB"
    assert not looks_like_chest_xray(img, info)[0]


def test_exif_orientation_applied() -> None:
    grey = np.zeros((100, 70), np.uint8)
    grey[:10] = 255  # bright band at the top of the stored pixels
    im = Image.fromarray(grey)
    exif = im.getexif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    out = np.asarray(load_image(buf.getvalue()))
    assert out.shape == (70, 100)
    assert out[:, -10:].mean() > 200 and out[:, :10].mean() < 50  # band now on the right


def test_directory_is_not_an_image(tmp_path: Path) -> None:
    assert _code(tmp_path) == "not_an_image"
