"""The printed ``kaggle competitions submit`` line: exact form, shell quoting, bad input, and one slug
per competition, declared by its competition object, which the kernel builder also reads."""

from __future__ import annotations

import shlex

import pytest

from common.recipe.competition import competition_of
from common.recipe.kaggle import print_submit_command, submit_command
from kernels.targets import TARGETS


def test_the_line_names_slug_absolute_file_and_message(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = submit_command("tgs-salt-identification-challenge", "runs/salt/submission.csv", "salt_resnet34")
    assert line == (f"kaggle competitions submit -c tgs-salt-identification-challenge "
                    f"-f {tmp_path / 'runs/salt/submission.csv'} -m salt_resnet34")


def test_spaces_and_quotes_survive_the_shell(tmp_path, capsys):
    path = tmp_path / "my runs" / "sub.csv.gz"
    line = print_submit_command("carvana-image-masking-challenge", path, "fold 0 'hflip' TTA")
    assert shlex.split(line) == ["kaggle", "competitions", "submit", "-c", "carvana-image-masking-challenge",
                                 "-f", str(path), "-m", "fold 0 'hflip' TTA"]
    assert capsys.readouterr().out.strip() == f"submit to Kaggle with: {line}"


@pytest.mark.parametrize(("slug", "message", "error"), [
    ("TGS Salt", "m", "slug"), ("", "m", "slug"), ("data-science-bowl-2018", "  ", "message"),
])
def test_bad_slug_or_empty_message_is_an_error(slug, message, error):
    with pytest.raises(ValueError, match=error):
        submit_command(slug, "sub.csv", message)


@pytest.mark.parametrize("competition", sorted(TARGETS))
def test_every_competition_has_the_slug_its_kernel_and_submit_line_use(competition):
    slug = competition_of(f"competitions.{competition}").kaggle_slug
    assert slug and TARGETS[competition].kaggle_slug == slug
    submit_command(slug, "sub.csv", "m")  # a well-formed slug
