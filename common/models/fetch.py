"""Save the pretrained encoders that configs need into a weights folder, once, on a machine with
network: ``python -m common.models.weights fetch --config A.yaml [--config B.yaml ...] --out DIR``.

Each config's ``model`` section names an ``encoder`` and its ``encoder_weights`` tag (a config with
``encoder_weights: null`` needs nothing). An ensemble config (``ensemble.members``: run folders and
no ``model`` section) stands for its members: each member run's saved ``fold<k>/config.yaml`` when
it exists, else the config next to the ensemble config whose ``run.out`` is that member. Every
(encoder, tag) pair is built with its pretrained weights through smp/timm and saved with
:func:`~common.models.pretrained.save_encoder_weights`; pairs already in the folder are kept
(``--force`` fetches again). ``--owner NAME`` also writes the ``dataset-metadata.json`` that
``kaggle datasets create -p DIR`` needs (see docs/pretrained_weights.md).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from common.config import ConfigError, config_from_dict, read_config
from common.models.config import ModelConfig
from common.models.pretrained import (
    PretrainedWeightsError,
    download_encoder,
    read_manifest,
    save_encoder_weights,
    weights_file_name,
    weights_source,
)

DEFAULT_TITLE = "kaggle-seg encoder weights"


def _read_yaml(path: Path) -> dict[str, Any]:
    """The config's plain mapping with its ``base`` files merged under it."""
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    return read_config(path)


def _same_folder(a: str | Path, b: str | Path) -> bool:
    return os.path.normpath(Path(a).expanduser()) == os.path.normpath(Path(b).expanduser())


def _member_config(path: Path, member: str) -> Path:
    saved = sorted(Path(member).expanduser().glob("fold*/config.yaml"))
    if saved:
        return saved[0]
    for sibling in sorted(path.parent.glob("*.yaml")):
        if sibling != path and _same_folder((_read_yaml(sibling).get("run") or {}).get("out", ""), member):
            return sibling
    raise FileNotFoundError(f"{path}: ensemble member {member!r} has no fold<k>/config.yaml and no config in "
                            f"{path.parent} has run.out: {member}; pass the member configs with --config")


def config_encoders(path: str | Path) -> list[tuple[str, str]]:
    """The (encoder, weights tag) pairs the config at ``path`` needs pretrained, in order."""
    path = Path(path)
    data = _read_yaml(path)
    members = (data.get("ensemble") or {}).get("members") or []
    if "model" not in data and members:
        pairs = [pair for member in members for pair in config_encoders(_member_config(path, member))]
        return list(dict.fromkeys(pairs))
    try:
        model = config_from_dict(data.get("model") or {}, ModelConfig)
    except ConfigError as exc:
        raise ConfigError(f"{path}: model.{exc}") from None
    return [] if model.encoder_weights is None else [(model.encoder, model.encoder_weights)]


def fetch(configs: Sequence[str | Path], out: str | Path, encoders: Sequence[str] = (),
          force: bool = False) -> dict[str, Path]:
    """Save every encoder the ``configs`` (plus ``encoders``, ``name`` or ``name:tag``) need into
    ``out``; returns ``{file name: path}`` of the folder's files for them. Needs network for the
    files not there yet (:class:`~common.models.pretrained.PretrainedWeightsError` in seconds without)."""
    pairs = [pair for config in configs for pair in config_encoders(config)]
    for item in encoders:
        name, _, tag = item.partition(":")
        pairs.append((name, tag or "imagenet"))
    pairs = list(dict.fromkeys(pairs))
    folder = Path(out)
    have = read_manifest(folder)["encoders"]
    result: dict[str, Path] = {}
    for name, tag in tqdm(pairs, desc="fetch encoders", unit="encoder", disable=len(pairs) < 2):
        path = folder / weights_file_name(name, tag)
        if path.is_file() and path.name in have and not force:
            print(f"{path}: already there (--force fetches again)")
        else:
            encoder = download_encoder(name, tag)
            save_encoder_weights(encoder, name, tag, folder, source=weights_source(encoder, name, tag))
            print(f"{path}: {name} ({tag}) saved")
        result[path.name] = path
    return result


def _write_dataset_metadata(folder: Path, owner: str, title: str) -> Path:
    from kernels.metadata import DATASET_METADATA, dataset_metadata, write_metadata

    return write_metadata(dataset_metadata(owner, title), folder / DATASET_METADATA)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m common.models.weights",
                                     description="Pretrained encoder weights for offline training.")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("fetch", help="save the encoders configs need into a folder (needs network)")
    cmd.add_argument("--config", action="append", default=[], help="experiment YAML (repeatable)")
    cmd.add_argument("--encoder", action="append", default=[], help="also NAME or NAME:TAG (repeatable)")
    cmd.add_argument("--out", required=True, help="the weights folder (created; existing files are kept)")
    cmd.add_argument("--force", action="store_true", help="fetch again the files already there")
    cmd.add_argument("--owner", help="Kaggle user name: also write dataset-metadata.json for kaggle datasets create")
    cmd.add_argument("--title", default=DEFAULT_TITLE, help=f"dataset title with --owner (default {DEFAULT_TITLE!r})")
    args = parser.parse_args(argv)
    if not args.config and not args.encoder:
        parser.error("fetch: give at least one --config or --encoder")
    try:
        files = fetch(args.config, args.out, args.encoder, args.force)
    except (PretrainedWeightsError, FileNotFoundError, ConfigError, KeyError) as exc:
        parser.exit(1, f"fetch: {exc}\n")
    if not files:
        print("nothing to fetch: every config trains from random weights (encoder_weights: null)")
    if args.owner:
        print(f"wrote {_write_dataset_metadata(Path(args.out), args.owner, args.title)}")
    print(f"offline: model.encoder_weights_dir={args.out} (or KAGGLE_SEG_WEIGHTS={args.out})")
