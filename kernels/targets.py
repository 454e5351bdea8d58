"""The little a kernel must know about each competition: its Kaggle slug, the sample submission
(whose ids the submission must cover), the file that marks its data folder, and how the data folder
is handed to the competition's stages as config overrides (``{data}`` is the resolved folder)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KernelTarget:
    """``kaggle_slug``: the competition's id on Kaggle (``competition_sources``).
    ``sample_submission``: file name in the data folder listing the test ids (``None``: not checked).
    ``marker``: a file found at the top of the data folder, used to find it under ``/kaggle/input``.
    ``data_overrides``: config overrides pointing the stages at the data folder.
    ``stages``: the modules run once prediction is done (``predict`` itself is run fold by fold)."""

    kaggle_slug: str
    sample_submission: str | None
    marker: str
    data_overrides: tuple[str, ...] = ("source.root={data}",)
    stages: tuple[str, ...] = ("submit",)


TARGETS: dict[str, KernelTarget] = {
    "salt": KernelTarget("tgs-salt-identification-challenge", "sample_submission.csv", "depths.csv"),
    "carvana": KernelTarget("carvana-image-masking-challenge", "sample_submission.csv", "metadata.csv"),
    "pneumothorax": KernelTarget(
        "siim-acr-pneumothorax-segmentation", "stage_2_sample_submission.csv", "stage_2_sample_submission.csv"
    ),
    "dsb2018": KernelTarget(
        "data-science-bowl-2018", "stage1_sample_submission.csv", "stage1_sample_submission.csv",
        data_overrides=("source.root={data}/stage1_train", "source.test_root={data}/stage1_test"),
    ),
}


def get_target(competition: str) -> KernelTarget:
    """The table entry of ``competition``; unknown names raise listing the known ones."""
    if competition not in TARGETS:
        raise KeyError(f"unknown competition {competition!r}; known: {', '.join(sorted(TARGETS))}")
    return TARGETS[competition]
