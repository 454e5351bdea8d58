"""The little a kernel must know about each competition: the sample submission (whose ids the
submission must cover), the file that marks its data folder, and how the data folder is handed to
the competition's stages as config overrides (``{data}`` is the resolved folder). The Kaggle slug
is the competition object's (``competitions/<name>/competition.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from common.recipe.competition import competition_of


@dataclass(frozen=True)
class KernelTarget:
    """``competition``: the folder under ``competitions/``.
    ``sample_submission``: file name in the data folder listing the test ids (``None``: not checked).
    ``marker``: a file found at the top of the data folder, used to find it under ``/kaggle/input``.
    ``data_overrides``: config overrides pointing the stages at the data folder.
    ``stages``: the modules run once prediction is done (``predict`` itself is run fold by fold)."""

    competition: str
    sample_submission: str | None
    marker: str
    data_overrides: tuple[str, ...] = ("source.root={data}",)
    stages: tuple[str, ...] = ("submit",)

    @property
    def kaggle_slug(self) -> str:
        """The competition's id on Kaggle (``competition_sources``), from its competition object."""
        slug = competition_of(f"competitions.{self.competition}").kaggle_slug
        if not slug:
            raise ValueError(f"competitions.{self.competition} declares no kaggle_slug")
        return slug


TARGETS: dict[str, KernelTarget] = {
    "salt": KernelTarget("salt", "sample_submission.csv", "depths.csv"),
    "carvana": KernelTarget("carvana", "sample_submission.csv", "metadata.csv"),
    "pneumothorax": KernelTarget(
        "pneumothorax", "stage_2_sample_submission.csv", "stage_2_sample_submission.csv"
    ),
    "dsb2018": KernelTarget(
        "dsb2018", "stage1_sample_submission.csv", "stage1_sample_submission.csv",
        data_overrides=("source.root={data}/stage1_train", "source.test_root={data}/stage1_test"),
    ),
}


def get_target(competition: str) -> KernelTarget:
    """The table entry of ``competition``; unknown names raise listing the known ones."""
    if competition not in TARGETS:
        raise KeyError(f"unknown competition {competition!r}; known: {', '.join(sorted(TARGETS))}")
    return TARGETS[competition]
