"""The report command every competition shares: a report written, and a user error as one line."""

from __future__ import annotations

import pytest

from common.report.gallery_cli import gallery_report_main


def test_a_missing_stage_output_is_one_error_line(tmp_path, capsys):
    def items(run_dir, k):
        raise FileNotFoundError(f"{run_dir}/post/post.json missing; run python -m competitions.toy.postprocess first")

    with pytest.raises(SystemExit) as stop:
        gallery_report_main([str(tmp_path), "--k", "3"], "Toy", items)
    assert stop.value.code == 1
    assert capsys.readouterr().err.strip() == (f"error: {tmp_path}/post/post.json missing; "
                                               "run python -m competitions.toy.postprocess first")


def test_the_report_is_written_with_the_asked_gallery_size(tmp_path, capsys):
    asked = []
    path = gallery_report_main([str(tmp_path), "--k", "3"], "Toy", lambda run_dir, k: asked.append(k) or [])
    assert asked == [3] and path.is_file() and f"wrote {path}" in capsys.readouterr().out
