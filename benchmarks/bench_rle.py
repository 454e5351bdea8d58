"""RLE encode/decode speed on a Carvana-sized (1280x1918) mask, against plain-Python loops.

Cases: a smooth car-like silhouette (about 1.5k runs, like real Carvana masks) in row-major order,
the same mask column-major (TGS/DSB2018 numbering), and a fragmented mask with ~50k runs.
Baselines, measured in the same run on the same mask:

* "python pixel loop": encoders/decoders written as plain Python loops over pixels (the shape of
  the competitions' reference ``mask2rle``/``rle2mask`` code);
* "python run loop + numpy slices": the usual kernel decoder, one ``img[lo:hi] = 1`` per run.
"""

from __future__ import annotations

import cv2
import numpy as np

from benchmarks.common import print_rows, row, time_it
from common.io.rle import rle_decode, rle_encode

BENCH = "rle"
SHAPE = (1280, 1918)


def _car() -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    cv2.ellipse(mask, (959, 700), (780, 330), 0, 0, 360, 1, -1)
    cv2.ellipse(mask, (900, 450), (420, 200), 0, 180, 360, 1, -1)
    for x in (450, 1450):
        cv2.circle(mask, (x, 1000), 150, 1, -1)
        cv2.circle(mask, (x, 1000), 60, 0, -1)
    cv2.ellipse(mask, (900, 470), (300, 120), 0, 180, 360, 0, -1)
    return mask


def _fragmented() -> np.ndarray:
    mask = _car()
    mask[::9, ::11] = 0
    return mask


def _python_encode(mask: np.ndarray, order: str) -> str:
    out, start = [], None
    flat = mask.ravel(order=order).tolist()
    for i, value in enumerate(flat):
        if value and start is None:
            start = i
        elif not value and start is not None:
            out += [start + 1, i - start]
            start = None
    if start is not None:
        out += [start + 1, len(flat) - start]
    return " ".join(map(str, out))


def _python_decode(rle: str, shape: tuple[int, int], order: str) -> np.ndarray:
    values = [int(v) for v in rle.split()]
    pixels = [0] * (shape[0] * shape[1])
    for i in range(0, len(values), 2):
        for p in range(values[i] - 1, values[i] - 1 + values[i + 1]):
            pixels[p] = 1
    return np.array(pixels, dtype=np.uint8).reshape(shape, order=order)


def _slice_decode(rle: str, shape: tuple[int, int], order: str) -> np.ndarray:
    values = rle.split()
    starts = np.asarray(values[0::2], dtype=np.int64) - 1
    lengths = np.asarray(values[1::2], dtype=np.int64)
    flat = np.zeros(shape[0] * shape[1], dtype=np.uint8)
    for lo, n in zip(starts, lengths):
        flat[lo : lo + n] = 1
    return flat.reshape(shape, order=order)


def run() -> list[dict]:
    rows = []
    for name, mask, order in (
        ("car C-order", _car(), "C"),
        ("car F-order", _car(), "F"),
        ("fragmented C-order", _fragmented(), "C"),
    ):
        rle = rle_encode(mask, order)
        runs = len(rle.split()) // 2
        assert rle == _python_encode(mask, order)
        assert np.array_equal(rle_decode(rle, SHAPE, order), mask)
        case = f"{name} 1280x1918 ({runs} runs)"
        encode = time_it(lambda m=mask, o=order: rle_encode(m, o), repeat=7, min_time=0.1)
        decode = time_it(lambda r=rle, o=order: rle_decode(r, SHAPE, o), repeat=7, min_time=0.1)
        py_encode = time_it(lambda m=mask, o=order: _python_encode(m, o), repeat=1, warmup=0)
        py_decode = time_it(lambda r=rle, o=order: _python_decode(r, SHAPE, o), repeat=1, warmup=0)
        slices = time_it(lambda r=rle, o=order: _slice_decode(r, SHAPE, o), repeat=5)
        rows += [
            row(BENCH, f"encode {case}", encode * 1e3, "ms", py_encode * 1e3, "python pixel loop"),
            row(BENCH, f"decode {case}", decode * 1e3, "ms", py_decode * 1e3, "python pixel loop"),
            row(BENCH, f"decode {case}", decode * 1e3, "ms", slices * 1e3, "python run loop + numpy slices"),
        ]
    return rows


if __name__ == "__main__":
    print_rows(run())
