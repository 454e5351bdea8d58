"""Export a trained checkpoint to files that load and predict without this repository.

``python -m common.models.export --checkpoint RUN/fold0/best.pt --out model.pt2 --size H W``
writes a ``torch.export`` program (``torch.export.save``) of the whole network: extra input
channels, padding to the encoder stride and the crop back, scSE blocks, hypercolumn and
non-empty heads are all inside it. Load and predict with torch alone::

    import torch
    net = torch.export.load("model.pt2").module()
    logits = net(images)                 # images: float32 [B, C, H, W], normalized as in training
    logits, nonempty = net(images)       # models with a non-empty head
    logits = net(images, depth)          # models with a "depth" extra channel; depth: [B] float32

``logits`` are the mask logits [B, K, H, W] (apply ``sigmoid``/``softmax`` yourself); ``nonempty``
is [B, 1]. Deep-supervision side outputs are training-only and not exported. The batch size is
free (1 and up); the image size is fixed to ``--size`` (the program checks it and names the
expected size otherwise), so export once per size you predict at. The input/output names and the
size are stored in the file as ``kaggle-seg.json`` (read with
``torch.export.load(path, extra_files={"kaggle-seg.json": ""})``).

``--smp model_smp.pt``: when the network is a plain segmentation-models-pytorch architecture (no
extra channels, attention blocks, custom heads or stem changes) also write its state dict with
smp's key names and print the two lines that rebuild it with smp. A plain smp model does not pad:
its inputs must be multiples of the encoder stride.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.export import Dim, ExportedProgram

from common.io.atomic import atomic_path, atomic_write_bytes
from common.models.checkpoint import load_model, unwrap_model

META_FILE = "kaggle-seg.json"
_EXAMPLE_BATCH = 2  # an example batch of 1 would fix the batch size at 1
# ModelConfig fields that change the network away from smp's own model when set
_NOT_PLAIN = ("extra_channels", "encoder_attention", "decoder_attention", "hypercolumn", "stride1_stem",
              "nonempty_head", "deep_supervision")  # fmt: skip
_SMP_ARCHS = ("unet", "unetplusplus", "linknet", "fpn", "deeplabv3", "deeplabv3plus", "pan", "manet",
              "pspnet", "upernet")  # fmt: skip


class ExportableNet(nn.Module):
    """A :class:`~common.models.network.SegmentationNet` with tensor outputs instead of a dict.

    ``forward(image, *scalars)``: ``scalars`` are the model's ``scalar_inputs`` in order (e.g. the
    TGS ``depth`` [B]); returns the ``"mask"`` logits, or ``(mask, nonempty)`` with a non-empty head.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.net = unwrap_model(model)
        self.scalar_names = tuple(getattr(self.net, "scalar_inputs", ()))
        self.nonempty = getattr(self.net, "nonempty_head", None) is not None

    def forward(self, image: torch.Tensor, *scalars: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        out = self.net(image, **dict(zip(self.scalar_names, scalars)))
        if not isinstance(out, dict):
            return out
        return (out["mask"], out["nonempty"]) if self.nonempty else out["mask"]


def export_program(model: nn.Module, size: Sequence[int]) -> ExportedProgram:
    """``torch.export`` program of ``model`` (eval mode, float32, CPU) for images of ``size`` (H, W)
    and any batch size; see the module docstring for its signature."""
    height, width = (int(s) for s in size)
    if height < 1 or width < 1:
        raise ValueError(f"size must be two positive integers (H W), got {tuple(size)}")
    wrapper = ExportableNet(model).float().cpu().eval()
    in_channels = int(getattr(wrapper.net, "in_channels", 3))
    image = torch.rand(_EXAMPLE_BATCH, in_channels, height, width)
    scalars = tuple(torch.rand(_EXAMPLE_BATCH) for _ in wrapper.scalar_names)
    batch = Dim("batch", min=1)
    with torch.no_grad():
        # forward(image, *scalars): the varargs are one nested entry of dynamic_shapes
        shapes = ({0: batch}, tuple({0: batch} for _ in scalars)) if scalars else ({0: batch},)
        return torch.export.export(wrapper, (image, *scalars), dynamic_shapes=shapes)


def export_metadata(model: nn.Module, size: Sequence[int]) -> dict[str, Any]:
    """What the exported program takes and returns (stored in the file as ``kaggle-seg.json``)."""
    wrapper = ExportableNet(model)
    config = getattr(wrapper.net, "config", None)
    return {
        "format": "kaggle-seg/export",
        "inputs": ["image", *wrapper.scalar_names],
        "outputs": ["mask", "nonempty"] if wrapper.nonempty else ["mask"],
        "image_size": [int(s) for s in size],
        "in_channels": int(getattr(wrapper.net, "in_channels", 3)),
        "classes": int(getattr(config, "classes", 0)) or None,
        "torch": torch.__version__,
    }


def save_exported(model: nn.Module, path: str | Path, size: Sequence[int]) -> Path:
    """Export ``model`` for ``size`` and write the program to ``path`` atomically; return the path."""
    program = export_program(model, size)
    meta = json.dumps(export_metadata(model, size), indent=2)
    buffer = io.BytesIO()  # a buffer: torch.export.save warns about a temporary name not ending in .pt2
    torch.export.save(program, buffer, extra_files={META_FILE: meta})
    return atomic_write_bytes(path, buffer.getvalue())


def smp_rebuild(model: nn.Module) -> tuple[dict[str, torch.Tensor], str, dict[str, Any]] | None:
    """For a network that is a plain smp architecture: its state dict with smp's key names, the
    ``smp.create_model`` arguments as source text, and as a dict. None for any other network."""
    from common.models.factory import _arch_kwargs, get_arch

    net = unwrap_model(model)
    cfg = getattr(net, "config", None)
    if cfg is None or cfg.arch.lower() not in _SMP_ARCHS or any(getattr(cfg, f) for f in _NOT_PLAIN):
        return None
    kwargs: dict[str, Any] = {
        "encoder_name": cfg.encoder,
        "encoder_depth": cfg.encoder_depth,
        "encoder_weights": None,
        "in_channels": cfg.in_channels,
        "classes": cfg.classes,
        **_arch_kwargs(cfg, get_arch(cfg.arch)),
    }
    state = {}
    for key, value in net.state_dict().items():
        if not key.startswith(("encoder.", "decoder.", "head.")):
            return None
        smp_key = "segmentation_head." + key[len("head.") :] if key.startswith("head.") else key
        state[smp_key] = value.detach().cpu().clone()
    args = ", ".join([repr(cfg.arch.lower())] + [f"{k}={v!r}" for k, v in kwargs.items()])
    return state, args, {"arch": cfg.arch.lower(), **kwargs}


def save_smp_state_dict(model: nn.Module, path: str | Path) -> list[str]:
    """Write the smp-compatible state dict to ``path``; return the two lines that rebuild the model
    with segmentation-models-pytorch. ValueError when the network is not a plain smp architecture."""
    import segmentation_models_pytorch as smp

    rebuilt = smp_rebuild(model)
    if rebuilt is None:
        raise ValueError(
            "not a plain smp architecture (it has one of: " + ", ".join(_NOT_PLAIN) + ", or a custom arch); "
            "use the torch.export file instead"
        )
    state, args, kwargs = rebuilt
    check = smp.create_model(**kwargs)
    check.load_state_dict(state)  # the keys and shapes match smp's own model
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return [
        f"model = smp.create_model({args})",
        f"model.load_state_dict(torch.load({str(path)!r}, weights_only=True))",
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m common.models.export", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--checkpoint", required=True, help="a checkpoint written by training (best.pt, ...)")
    parser.add_argument(
        "--out", required=True, help="the torch.export file to write (model.pt2: torch expects that suffix)"
    )
    parser.add_argument("--size", required=True, nargs=2, type=int, metavar=("H", "W"),
                        help="image size the exported model predicts at (e.g. 101 101 for TGS)")  # fmt: skip
    parser.add_argument("--smp", default=None, metavar="PATH",
                        help="also write an smp-compatible state dict here (plain smp architectures only)")  # fmt: skip
    args = parser.parse_args(argv)
    model = load_model(args.checkpoint).eval()
    if args.smp is not None and smp_rebuild(model) is None:
        parser.error(f"--smp: {args.checkpoint} is not a plain smp architecture ({', '.join(_NOT_PLAIN)} "
                     "or a custom arch); the torch.export file is the way to ship it")  # fmt: skip
    out = save_exported(model, args.out, args.size)
    meta = export_metadata(model, args.size)
    print(f"wrote {out}: torch.export.load({str(out)!r}).module()({', '.join(meta['inputs'])}) -> "
          f"{', '.join(meta['outputs'])}; images {meta['in_channels']}x{args.size[0]}x{args.size[1]}, any batch")  # fmt: skip
    if args.smp is not None:
        lines = save_smp_state_dict(model, args.smp)
        print(
            f"wrote {args.smp}; rebuild it with segmentation-models-pytorch (inputs: multiples of the stride):"
        )
        print("\n".join(lines))


if __name__ == "__main__":
    main()
