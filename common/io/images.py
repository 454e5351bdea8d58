"""Image and mask readers for the competition formats: PNG, JPG, GIF and DICOM.

Every image comes back as an ``H x W x 3`` ``uint8`` RGB array: gray images are repeated over three
channels, an alpha channel is dropped (DSB2018's RGBA PNGs are opaque), and 16-bit PNGs are scaled
to 8 bits (``round(v / 257)``, so 65535 -> 255). Masks come back as ``H x W`` ``uint8`` {0, 1}
(any non-zero pixel is foreground; Carvana's GIF masks hold palette indices 0/1, TGS's PNG masks
0/65535, DSB2018's 0/255). DICOM files (SIIM) are read with pydicom, pixels plus the metadata
fields a model or a stacker uses. A missing or unreadable file raises an error naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pydicom
from PIL import Image, UnidentifiedImageError
from pydicom.errors import InvalidDicomError

_DICOM_SUFFIXES = {".dcm", ".dicom"}
_PIL_SUFFIXES = {".gif"}
# DICOM attributes copied into DicomImage.meta when present.
_DICOM_FIELDS = (
    "PatientID",
    "PatientAge",
    "PatientSex",
    "ViewPosition",
    "BodyPartExamined",
    "Modality",
    "PhotometricInterpretation",
    "Rows",
    "Columns",
    "PixelSpacing",
    "BitsStored",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
)


@dataclass
class DicomImage:
    """Pixels of a DICOM file as ``H x W x 3`` uint8 RGB plus metadata (plain Python values)."""

    image: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    return path


def _to_uint8(pixels: np.ndarray, path: Path) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if pixels.dtype == np.bool_:
        return pixels.astype(np.uint8) * 255
    raise ValueError(f"unsupported pixel type {pixels.dtype} in {path}")


def _to_rgb(pixels: np.ndarray, path: Path, bgr: bool) -> np.ndarray:
    """Gray / gray+alpha / RGB(A) (BGR(A) when ``bgr``) -> contiguous RGB."""
    if pixels.ndim == 2:
        return np.ascontiguousarray(np.repeat(pixels[:, :, None], 3, axis=2))
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"unsupported image layout {pixels.shape} in {path}")
    channels = pixels.shape[2]
    if channels <= 2:  # gray or gray + alpha
        return np.ascontiguousarray(np.repeat(pixels[:, :, :1], 3, axis=2))
    rgb = pixels[:, :, 2::-1] if bgr else pixels[:, :, :3]
    return np.ascontiguousarray(rgb)


def _read_raw(path: Path) -> tuple[np.ndarray, bool]:
    """Pixels as stored (any bit depth, any channels) and whether the channel order is BGR."""
    if path.suffix.lower() in _PIL_SUFFIXES:
        try:
            with Image.open(path) as img:
                img.seek(0)
                if img.mode not in ("L", "RGB", "RGBA"):  # palette (Carvana masks) -> its colours
                    img = img.convert("RGB")
                return np.asarray(img), False
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"cannot read image {path}: {err}") from err
    data = np.fromfile(path, dtype=np.uint8)  # fromfile + imdecode also handles non-ASCII paths
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if pixels is None:
        raise ValueError(f"cannot decode image {path} (empty, truncated or not an image)")
    return pixels, True


def read_image(path: str | Path) -> np.ndarray:
    """Read a PNG/JPG/GIF/DICOM file as an ``H x W x 3`` uint8 RGB array."""
    path = _existing(path)
    if path.suffix.lower() in _DICOM_SUFFIXES:
        return read_dicom(path).image
    pixels, bgr = _read_raw(path)
    return _to_rgb(_to_uint8(pixels, path), path, bgr)


def read_mask(path: str | Path) -> np.ndarray:
    """Read a mask image (PNG 8/16-bit, GIF, JPG) as ``H x W`` uint8 {0, 1}.

    Multi-channel masks are foreground where any colour channel is non-zero (alpha is ignored);
    palette GIFs are read through their palette, so a black index is background whatever its number.
    JPG masks are thresholded at 128 because compression blurs their edges.
    """
    path = _existing(path)
    pixels, _ = _read_raw(path)
    if pixels.ndim == 3:
        colour = pixels[:, :, : 1 if pixels.shape[2] <= 2 else 3]
        pixels = colour.max(axis=2)
    if path.suffix.lower() in {".jpg", ".jpeg"}:
        return (_to_uint8(pixels, path) >= 128).astype(np.uint8)
    return (pixels != 0).astype(np.uint8)


def _plain(value: Any) -> Any:
    """pydicom values -> plain Python (str, int, float, list)."""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [_plain(v) for v in value]
    for kind in (int, float):
        if isinstance(value, kind):
            return kind(value)
    return str(value)


def _age_years(age: Any) -> int | None:
    """DICOM age strings look like ``"038Y"`` or ``"38"`` (SIIM); weeks/months/days map to 0 years."""
    text = str(age).strip().upper()
    if not text:
        return None
    unit = text[-1] if text[-1] in "DWMY" else "Y"
    digits = text[:-1] if text[-1] in "DWMY" else text
    if not digits.isdigit():
        return None
    return int(digits) if unit == "Y" else 0


def _dicom_meta(ds: Any) -> dict[str, Any]:
    meta = {name: _plain(ds[name].value) for name in _DICOM_FIELDS if name in ds}
    if "PatientAge" in meta:
        meta["PatientAge"] = _age_years(meta["PatientAge"])
    return meta


def _read_dataset(path: Path, pixels: bool) -> Any:
    try:
        return pydicom.dcmread(path, stop_before_pixels=not pixels)
    except (InvalidDicomError, OSError, ValueError) as err:
        raise ValueError(f"cannot read DICOM file {path}: {err}") from err


def read_dicom_meta(path: str | Path) -> dict[str, Any]:
    """Metadata of a DICOM file without decoding its pixels (PatientAge as int years)."""
    path = _existing(path)
    return _dicom_meta(_read_dataset(path, pixels=False))


def read_dicom(path: str | Path) -> DicomImage:
    """Read a DICOM file: pixels as ``H x W x 3`` uint8 RGB and metadata.

    8-bit pixels are kept as stored; deeper pixels are min-max scaled to 0..255.
    ``MONOCHROME1`` (inverted gray) is flipped so that bright means dense, as in ``MONOCHROME2``.
    """
    path = _existing(path)
    ds = _read_dataset(path, pixels=True)
    try:
        pixels = np.asarray(ds.pixel_array)
    except (AttributeError, ValueError, RuntimeError) as err:
        raise ValueError(f"cannot decode DICOM pixels of {path}: {err}") from err
    if pixels.dtype != np.uint8:
        low, high = float(pixels.min()), float(pixels.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        pixels = np.round((pixels.astype(np.float64) - low) * scale).astype(np.uint8)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        pixels = 255 - pixels
    # pydicom already converts colour (YBR) pixel data to RGB.
    return DicomImage(image=_to_rgb(pixels, path, bgr=False), meta=_dicom_meta(ds))
