"""The HTML run report: one self-contained file, every section present, every image a decodable PNG."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from common.report.gallery import GalleryItem
from common.report.html import write_run_report
from common.report.plots import search_curves
from common.report.run_files import read_run

SECTIONS = ("summary", "timings", "learning", "search", "stack", "gallery", "config")


def _items() -> list[GalleryItem]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
    truth = np.zeros((40, 60), np.uint8)
    truth[5:20, 5:30] = 1
    labels = np.zeros((40, 60), np.uint8)
    labels[2:10, 2:10], labels[20:30, 30:50] = 1, 2
    return [GalleryItem("bad", image, truth, np.zeros_like(truth), 0.0, note="missed", prob=rng.random((40, 60))),
            GalleryItem("cells", image[..., 0], labels, labels, 0.5)]


def _images(text: str) -> list[Image.Image]:
    sources = re.findall(r'src="([^"]*)"', text)
    assert all(s.startswith("data:image/png;base64,") for s in sources), "every src must be an embedded PNG"
    images = []
    for source in sources:
        png = base64.b64decode(source.split(",", 1)[1], validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        image = Image.open(io.BytesIO(png))
        image.load()
        images.append(image)
    return images


def test_report_is_self_contained_with_every_section(tmp_path: Path, fake_run) -> None:
    run = fake_run(tmp_path / "salt")
    path = write_run_report(run, _items(), title="TGS <demo>")
    assert path == run / "report.html"
    text = path.read_text()
    assert "http:" not in text and "https:" not in text
    assert "<link" not in text and "<script" not in text and "url(" not in text
    assert "TGS &lt;demo&gt;" in text
    for section in SECTIONS:
        assert f'<section id="{section}">' in text
    assert 'class="missing"' not in text  # every input was there
    images = _images(text)
    # timings, learning curves, search, stacker curves, importance, two gallery panels
    assert len(images) == 7
    assert all(im.format == "PNG" and im.width > 50 and im.height > 50 for im in images)
    assert "bad · score 0.0000 · truth 375 px · prediction 0 px · missed" in text
    assert "2 instances" in text
    assert "0.7400" in text and "fold1" in text


def test_report_of_a_partial_run_names_what_is_missing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "fold0").mkdir(parents=True)
    pd.DataFrame({"epoch": [0, 1], "train_loss": [0.9, 0.8]}).to_csv(run / "fold0" / "metrics.csv", index=False)
    text = write_run_report(run, out=tmp_path / "elsewhere" / "r.html").read_text()
    assert "no summary.json" in text and "no post/search.csv" in text and "no stacker outputs" in text
    assert "no gallery" in text
    assert len(_images(text)) == 1  # the learning curves
    assert not (run / "report.html").exists()


def test_bad_inputs_raise_naming_the_file(tmp_path: Path, fake_run) -> None:
    run = fake_run(tmp_path / "run")
    pd.DataFrame({"threshold": [0.5], "dice": [0.7]}).to_csv(run / "post" / "search.csv", index=False)
    with pytest.raises(ValueError, match=r"search\.csv.*'score'"):
        write_run_report(run)
    (run / "summary.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"summary\.json"):
        read_run(run)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        write_run_report(tmp_path / "nowhere")


def test_search_curves_take_any_parameter_grid() -> None:
    # the SIIM triplet: threshold on x, one line per min_area, the best bottom threshold at each point
    rows = [{"top_threshold": t, "min_area": a, "bottom_threshold": b, "score": t + b - a / 100}
            for t in (0.5, 0.7) for a in (0, 10, 20) for b in (0.3, 0.4)]
    fig = search_curves(pd.DataFrame(rows))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "top_threshold"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["min_area=0", "min_area=10", "min_area=20"]
    assert "best over bottom_threshold" in ax.get_title()
    first = ax.get_lines()[0]
    assert list(first.get_ydata()) == pytest.approx([0.9, 1.1])
