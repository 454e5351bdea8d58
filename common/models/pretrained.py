"""Pretrained encoder weights: fetched once on a machine with network, loaded offline from a folder.

A weights folder (written by ``python -m common.models.weights fetch --config A.yaml --out DIR``)
holds one file per encoder and weight tag, named by :func:`weights_file_name`
(``tu-resnet34.imagenet.safetensors``, ``vgg11.imagenet.safetensors``): the state dict of the smp
encoder module built for RGB input at depth 5, with the encoder name and tag in its metadata, plus a
manifest (:data:`MANIFEST`). Several configs, ensembles included, share one folder: each encoder
finds its own file by name.

Where ``encoder_weights: <tag>`` (e.g. ``imagenet``) gets its weights, first that applies
(:func:`plan_encoder_init`):

1. ``model.encoder_weights_dir``;
2. the ``KAGGLE_SEG_WEIGHTS`` environment variable (:data:`WEIGHTS_DIR_ENV`);
3. inside a Kaggle kernel, the folder under ``/kaggle/input`` holding :data:`MANIFEST` (an attached
   weights dataset);
4. a download through smp/timm, after a network probe of a few seconds: without network it stops at
   once with :class:`PretrainedWeightsError`, naming the fetch command and the offline setting.

A folder that was chosen must hold the encoder's file: a missing one is an error, never a silent
download or random init. How each model's encoder started is recorded as ``model.encoder_init``
(``random``, the tag such as ``imagenet``, or ``file:<name>`` for ``encoder_weights_file``).
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from common.io.atomic import atomic_path, atomic_text_writer
from common.models.state_dict import read_state_dict

MANIFEST = "kaggle-seg-encoders.json"
WEIGHTS_DIR_ENV = "KAGGLE_SEG_WEIGHTS"
FETCH_DEPTH = 5  # the deepest smp encoder: a file saved at this depth serves every shallower one
FORMAT = "kaggle-seg/encoder"
FETCH_COMMAND = "python -m common.models.weights fetch --config <config.yaml> --out DIR"
OFFLINE_SETTING = f"model.encoder_weights_dir=DIR (or the {WEIGHTS_DIR_ENV} environment variable)"
HUB = ("huggingface.co", 443)
PROBE_SECONDS = 3.0


class PretrainedWeightsError(RuntimeError):
    """Pretrained weights were asked for and cannot be had (no network, no local file)."""


class RandomInitWarning(UserWarning):
    """A recipe trains from a randomly initialised encoder."""


@dataclass(frozen=True)
class EncoderInit:
    """How :func:`~common.models.factory.build_model` initialises an encoder.

    ``label``: what is recorded (``random``, a tag such as ``imagenet``, ``file:<name>``);
    ``pretrained``: the encoder is built for RGB and its first conv adapted afterwards;
    ``smp_weights``: the ``encoder_weights`` value handed to smp (a tag: smp/timm download it;
    ``"file"`` with ``timm_kwargs``: timm reads a checkpoint file itself); ``local_file``: a
    state-dict file loaded into the encoder after it is built; ``timm_kwargs``: extra constructor
    arguments.
    """

    label: str
    pretrained: bool = False
    smp_weights: str | None = None
    local_file: Path | None = None
    timm_kwargs: dict[str, Any] = field(default_factory=dict)


def weights_file_name(encoder: str, tag: str) -> str:
    """The file of ``encoder`` with weights ``tag`` in a weights folder, e.g.
    ``tu-resnet34.imagenet.safetensors`` (characters outside ``[A-Za-z0-9._-]`` become ``_``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{encoder}.{tag}") + ".safetensors"


def _kaggle_weights_dir() -> Path | None:
    root = Path(os.environ.get("KAGGLE_ROOT") or "/kaggle") / "input"
    if not root.is_dir():
        return None
    from kernels.paths import find_marker  # standard library only; shipped with every kernel

    return find_marker(root, MANIFEST)


def find_weights_dir(setting: str | Path | None) -> tuple[Path, str] | None:
    """The weights folder to use and where it was named: ``setting`` (``model.encoder_weights_dir``),
    then ``$KAGGLE_SEG_WEIGHTS``, then an attached Kaggle dataset holding the manifest; None when
    there is none (the weights are then downloaded). A named folder that does not exist raises."""
    for value, origin in ((setting, "model.encoder_weights_dir"), (os.environ.get(WEIGHTS_DIR_ENV), WEIGHTS_DIR_ENV)):
        if value:
            folder = Path(value).expanduser()
            if not folder.is_dir():
                raise FileNotFoundError(f"{origin}: weights folder not found: {folder} (write it with {FETCH_COMMAND})")
            return folder, origin
    found = _kaggle_weights_dir()
    return (found, f"the Kaggle input holding {MANIFEST}") if found is not None else None


def _file_metadata(path: Path) -> dict[str, str]:
    if path.suffix != ".safetensors":
        return {}
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except Exception as exc:  # a truncated or foreign file
        raise ValueError(f"{path}: not a readable safetensors file ({exc})") from None


def _is_encoder_state_file(path: Path) -> bool:
    """True for a file in our format (saved by :func:`save_encoder_weights`) rather than a timm checkpoint."""
    if path.suffix != ".safetensors":
        return False
    if _file_metadata(path).get("format") == FORMAT:
        return True
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return any(key.startswith("model.") for key in fh.keys())


def plan_encoder_init(
    encoder: str, weights: str | None, weights_file: str | None, weights_dir: str | None
) -> EncoderInit:
    """Decide (without building anything) how ``encoder`` starts; raises before any model is built
    when a needed file is missing or the weights would need a network that is not there."""
    if weights is not None and weights_file is not None:
        raise ValueError("set encoder_weights or encoder_weights_file, not both")
    if weights_file is not None:
        path = Path(weights_file).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"encoder_weights_file not found: {path} (encoder {encoder!r})")
        label = f"file:{path.name}"
        if encoder.startswith("tu-") and not _is_encoder_state_file(path):
            # a timm checkpoint of the backbone: timm loads it (key remapping, classifier removal);
            # any non-None weights value makes smp ask timm for pretrained weights, taken from the file
            return EncoderInit(label, True, smp_weights="file",
                               timm_kwargs={"pretrained_cfg_overlay": {"file": str(path)}})
        return EncoderInit(label, True, local_file=path)
    if weights is None:
        return EncoderInit("random")
    found = find_weights_dir(weights_dir)
    if found is not None:
        folder, origin = found
        path = folder / weights_file_name(encoder, weights)
        if not path.is_file():
            raise FileNotFoundError(
                f"pretrained weights of encoder {encoder!r} ({weights}) not found: {path} (folder from {origin}). "
                f"Add them on a machine with network: python -m common.models.weights fetch --config <config.yaml> "
                f"--out {folder}"
            )
        return EncoderInit(weights, True, local_file=path)
    require_network(encoder, weights)
    return EncoderInit(weights, True, smp_weights=weights)


def _probe_target() -> tuple[str, int]:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        value = os.environ.get(name)
        if value:
            url = urlparse(value if "://" in value else f"http://{value}")
            if url.hostname:
                return url.hostname, url.port or 8080
    return HUB


def hub_reachable(timeout: float = PROBE_SECONDS) -> bool:
    """Whether a TCP connection to the model hub (or the HTTPS proxy) opens within ``timeout``
    seconds, name lookup included (it runs in a thread, so a hanging resolver cannot stall us)."""

    result: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection(_probe_target(), timeout=timeout):
                result.append(True)
        except (OSError, ValueError):
            result.append(False)

    thread = threading.Thread(target=connect, name="hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def offline_message(encoder: str, weights: str, reason: str) -> str:
    """The error text for pretrained weights that cannot be had: the fetch command and the setting."""
    return (
        f"encoder {encoder!r}: encoder_weights={weights!r} needs a download, but {reason}. Fetch the weights "
        f"once on a machine with network: {FETCH_COMMAND}, then train offline with {OFFLINE_SETTING}; "
        f"or set model.encoder_weights=null to train from random weights."
    )


def _hub_offline() -> bool:
    """The hub's own offline switch as the hub reads it (``HF_HUB_OFFLINE`` at its import)."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def require_network(encoder: str, weights: str) -> None:
    """Raise :class:`PretrainedWeightsError` at once when the hub cannot be reached (no minute of
    download retries). ``HF_HUB_OFFLINE=1`` skips the probe: the hub then answers from its cache."""
    if _hub_offline():
        return
    if not hub_reachable():
        host, port = _probe_target()
        raise PretrainedWeightsError(offline_message(encoder, weights, f"there is no network ({host}:{port} unreachable)"))


def download_encoder(encoder: str, weights: str, depth: int = FETCH_DEPTH) -> nn.Module:
    """The smp encoder ``encoder`` built for RGB with pretrained ``weights`` (downloads: online only;
    fails within seconds without network)."""
    from segmentation_models_pytorch.encoders import get_encoder

    require_network(encoder, weights)
    try:
        return get_encoder(encoder, in_channels=3, depth=depth, weights=weights)
    except KeyError:
        raise
    except Exception as exc:
        raise PretrainedWeightsError(offline_message(encoder, weights, f"the download failed ({exc})")) from exc


def weights_source(encoder: nn.Module, name: str, weights: str) -> str:
    """Where ``encoder``'s pretrained weights came from (a hub repository or URL), for the manifest."""
    cfg = getattr(getattr(encoder, "model", None), "pretrained_cfg", None)
    if isinstance(cfg, Mapping):
        return str(cfg.get("hf_hub_id") or cfg.get("url") or f"timm:{name[3:]}")
    from segmentation_models_pytorch.encoders import encoders

    settings = encoders.get(name, {}).get("pretrained_settings", {}).get(weights, {})
    return str(settings.get("repo_id") or settings.get("url") or f"smp:{name}")


def save_encoder_weights(encoder: nn.Module, name: str, weights: str, out_dir: str | Path,
                         source: str | None = None) -> Path:
    """Save ``encoder``'s state dict as ``out_dir/<weights_file_name>`` (atomically) and add it to
    the folder's manifest; returns the file. This is what the fetch command writes."""
    out = Path(out_dir)
    path = out / weights_file_name(name, weights)
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in encoder.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT, "encoder": name, "weights": weights})
    manifest = read_manifest(out)
    manifest["encoders"][path.name] = {
        "encoder": name, "weights": weights, "source": source, "tensors": len(state),
        "parameters": int(sum(v.numel() for v in state.values() if v.is_floating_point())),
        "bytes": path.stat().st_size,
    }
    with atomic_text_writer(out / MANIFEST) as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
    return path


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a weights folder (an empty one when the folder has none yet)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return {"format": "kaggle-seg/encoders", "version": 1, "encoders": {}}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("encoders"), dict):
        raise ValueError(f"{path}: not a weights manifest (no 'encoders' mapping)")
    return data


def load_encoder_weights(encoder: nn.Module, path: str | Path, name: str, allow_extra: bool = False) -> None:
    """Load a state-dict file into ``encoder`` (the smp encoder module, built for RGB).

    Every tensor of the encoder must be in the file with its shape; keys the encoder lacks are
    allowed only with ``allow_extra`` (a shallower encoder than the depth-5 file). A file saved for
    another encoder, or that does not fit, raises ``ValueError`` naming the file and the encoder.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights of encoder {name!r} not found: {path}")
    saved_for = _file_metadata(path).get("encoder")
    if saved_for is not None and saved_for != name:
        raise ValueError(f"{path}: holds weights of encoder {saved_for!r}, not of {name!r}")
    state = read_state_dict(path)
    if state and all(k.startswith("encoder.") for k in state):
        state = {k[len("encoder.") :]: v for k, v in state.items()}
    own = encoder.state_dict()
    missing = [k for k in own if k not in state]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in state and state[k].shape != v.shape]
    extra = [] if allow_extra else [k for k in state if k not in own]
    if missing or shapes or extra:
        parts = [f"{len(missing)} missing (e.g. {missing[:3]})" if missing else "",
                 f"{len(shapes)} of another shape (e.g. {shapes[:2]})" if shapes else "",
                 f"{len(extra)} unexpected (e.g. {extra[:3]})" if extra else ""]
        raise ValueError(f"{path}: weights do not match encoder {name!r}: tensors "
                         + "; ".join(p for p in parts if p))
    with torch.no_grad():
        encoder.load_state_dict({k: state[k] for k in own}, strict=True)


def encoder_init(model: nn.Module) -> str | None:
    """How ``model``'s encoder was initialised (``random``, ``imagenet``, ``file:<name>``), seen
    through DDP/``torch.compile`` wrappers; None for a model the factory did not build."""
    for attr in ("module", "_orig_mod"):
        inner = getattr(model, attr, None)
        if isinstance(inner, nn.Module):
            return encoder_init(inner)
    value = getattr(model, "encoder_init", None)
    return value if isinstance(value, str) else None


def warn_random_init(init: str | None, encoder: str, random_ok: bool) -> bool:
    """Warn (:class:`RandomInitWarning`) when an encoder whose init is ``init`` (see
    :func:`encoder_init`) trains from random weights and the config did not say that is intended
    (``model.random_init_ok``); returns whether it warned."""
    if random_ok or init != "random":
        return False
    warnings.warn(
        f"training encoder {encoder!r} from RANDOM weights: the recipes start from ImageNet weights "
        f"(model.encoder_weights: imagenet; offline: {FETCH_COMMAND}, then {OFFLINE_SETTING}). "
        "Set model.random_init_ok: true when random init is intended.",
        RandomInitWarning,
        stacklevel=2,
    )
    return True
