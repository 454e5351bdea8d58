"""Image and mask readers: bit depths, channel layouts, GIF palettes, DICOM, unreadable files."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from common.io.images import read_dicom, read_dicom_meta, read_image, read_mask

DSB_SAMPLE = Path(__file__).resolve().parents[3] / "data" / "dsb2018_stage1_sample" / "stage1_train"


def _rgb(h: int = 5, w: int = 7) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_png_rgb_gray_rgba(tmp_path: Path) -> None:
    rgb = _rgb()
    cv2.imwrite(str(tmp_path / "rgb.png"), rgb[:, :, ::-1])
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png"), rgb)
    cv2.imwrite(str(tmp_path / "gray.png"), rgb[:, :, 0])
    gray = read_image(tmp_path / "gray.png")
    assert gray.shape == (5, 7, 3) and gray.dtype == np.uint8
    np.testing.assert_array_equal(gray, np.repeat(rgb[:, :, :1], 3, axis=2))
    rgba = np.dstack([rgb, np.full((5, 7), 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), rgb)


def test_png_16_bit_scaled_to_8(tmp_path: Path) -> None:
    values = np.array([[0, 257, 65535], [128 * 257, 1000, 65280]], dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), values)
    image = read_image(tmp_path / "g16.png")
    np.testing.assert_array_equal(image[:, :, 0], [[0, 1, 255], [128, 4, 254]])
    cv2.imwrite(str(tmp_path / "c16.png"), np.dstack([values, values // 2, values // 4]))
    colour = read_image(tmp_path / "c16.png")
    np.testing.assert_array_equal(colour[:, :, 0], [[0, 0, 64], [32, 1, 64]])  # BGR on disk -> RGB
    np.testing.assert_array_equal(read_mask(tmp_path / "g16.png"), values != 0)


def test_jpg_image_and_mask(tmp_path: Path) -> None:
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 255
    cv2.imwrite(str(tmp_path / "m.jpg"), mask)
    read = read_mask(tmp_path / "m.jpg")
    assert read.dtype == np.uint8 and set(np.unique(read)) <= {0, 1}
    assert read[10:22, 10:22].all() and not read[:6].any()
    assert read_image(tmp_path / "m.jpg").shape == (32, 32, 3)


def test_gif_palette_mask_uses_palette_colours(tmp_path: Path) -> None:
    indices = np.zeros((6, 9), np.uint8)
    indices[2:4, 3:7] = 1
    gif = Image.fromarray(indices, "P")
    gif.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)  # index 0 white (foreground), 1 black
    gif.save(tmp_path / "inverted.gif")
    np.testing.assert_array_equal(read_mask(tmp_path / "inverted.gif"), 1 - indices)
    carvana = Image.fromarray(indices, "P")
    carvana.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    carvana.save(tmp_path / "carvana.gif")
    np.testing.assert_array_equal(read_mask(tmp_path / "carvana.gif"), indices)
    assert read_image(tmp_path / "carvana.gif").shape == (6, 9, 3)


def _write_dicom(path: Path, pixels: np.ndarray, photometric: str = "MONOCHROME2") -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = "patient-1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ds.PatientAge = "38"
    ds.PatientSex = "F"
    ds.ViewPosition = "PA"
    ds.Modality = "CR"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.PixelSpacing = [0.168, 0.168]
    ds.PixelData = pixels.tobytes()
    with warnings.catch_warnings():  # SIIM files hold ages like "38", not the standard "038Y"
        warnings.simplefilter("ignore", UserWarning)
        ds.save_as(path, enforce_file_format=True)


def test_dicom_pixels_and_metadata(tmp_path: Path) -> None:
    pixels = np.arange(48, dtype=np.uint8).reshape(6, 8)
    _write_dicom(tmp_path / "a.dcm", pixels)
    dicom = read_dicom(tmp_path / "a.dcm")
    assert dicom.image.shape == (6, 8, 3) and dicom.image.dtype == np.uint8
    np.testing.assert_array_equal(dicom.image[:, :, 1], pixels)
    assert dicom.meta["PatientAge"] == 38 and dicom.meta["PatientSex"] == "F"
    assert dicom.meta["ViewPosition"] == "PA" and dicom.meta["Rows"] == 6
    assert dicom.meta["PixelSpacing"] == pytest.approx([0.168, 0.168])
    assert read_dicom_meta(tmp_path / "a.dcm") == dicom.meta
    np.testing.assert_array_equal(read_image(tmp_path / "a.dcm"), dicom.image)


def test_dicom_16_bit_and_monochrome1(tmp_path: Path) -> None:
    pixels = np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)
    _write_dicom(tmp_path / "b.dcm", pixels, photometric="MONOCHROME1")
    image = read_dicom(tmp_path / "b.dcm").image[:, :, 0]
    np.testing.assert_array_equal(image, [[255, 191], [127, 0]])  # 255 - round(127.5)


@pytest.mark.skipif(not DSB_SAMPLE.is_dir(), reason="DSB2018 sample not present")
def test_dsb_sample_rgba_png() -> None:
    folder = next(p for p in sorted(DSB_SAMPLE.iterdir()) if p.is_dir())
    image = read_image(folder / "images" / f"{folder.name}.png")
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    mask = read_mask(next((folder / "masks").glob("*.png")))
    assert mask.shape == image.shape[:2] and set(np.unique(mask)) == {0, 1}


def test_missing_and_unreadable_files_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    for reader in (read_image, read_mask, read_dicom):
        with pytest.raises(FileNotFoundError, match="nope.png"):
            reader(missing)
    for name in ("bad.png", "bad.gif", "bad.dcm", "empty.jpg"):
        (tmp_path / name).write_bytes(b"" if name.startswith("empty") else b"not an image at all")
        with pytest.raises(ValueError, match=name):
            read_image(tmp_path / name)
