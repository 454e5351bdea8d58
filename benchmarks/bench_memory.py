"""Peak memory of validation and of tiled prediction against the number of images: it should be
bounded by the batch, not grow with the data set.

Each case runs in a fresh child process; its peak resident set (``ru_maxrss`` from ``os.wait4``)
is the figure, and the case with fewer images is the baseline of the same run. The ratio printed is
baseline / value (above 1 = the bigger set used less), so 1/ratio is the growth; it should stay
under 1.10.

1. Validation (``common.train.validation.evaluate``) of 16 and of 128 images at 1024x1024 on CPU
   with a tiny network (3x3 conv to 4 channels, ReLU, 1x1 conv), batches of 4 and SIIM's recipe metric (the triplet search of
   ``competitions/pneumothorax/configs/resnet34_unet.yaml`` at 1024 px, the engine's heaviest per
   image). Images and masks are generated from the item index on access, so the data set itself
   does not grow.
2. Carvana prediction of 4 and of 32 synthetic 1918x1280 test images through ``predict_folds``
   (sharded, resumable map stores, fold mean) with ``competitions.carvana.predict``'s scaled TTA
   wrapper, the demo config's network, tiling and uint8 store, and a fold checkpoint of random
   weights (memory does not depend on them).

``python -m benchmarks.bench_memory`` prints the table (about two minutes on 2 cores).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import print_rows, row

ROOT = Path(__file__).resolve().parents[1]
BENCH = "memory"
VAL_SIZE, VAL_BATCH, VAL_CASES = 1024, 4, (16, 128)
PRED_CASES = (4, 32)
SIIM_RECIPE = ROOT / "competitions" / "pneumothorax" / "configs" / "resnet34_unet.yaml"
CARVANA_DEMO = ROOT / "competitions" / "carvana" / "configs" / "demo.yaml"


def _child_peak_mib(args: list[str]) -> tuple[float, dict]:
    """Run ``python -m benchmarks.bench_memory ARGS`` in a fresh process; its peak RSS (MiB) and the
    JSON it printed last."""
    with tempfile.TemporaryFile("w+") as out:
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_memory", *args], cwd=ROOT, env=env,
                                stdout=out)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise RuntimeError(f"bench_memory {' '.join(args)} failed with exit {proc.returncode}:\n{text[-2000:]}")
    return usage.ru_maxrss / 1024, json.loads(text.strip().splitlines()[-1])


def _validate(n_images: int) -> dict:
    """Child: validate ``n_images`` lazily generated 1024x1024 images with SIIM's triplet metric."""
    import numpy as np
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset

    from common.train.validation import evaluate
    from competitions.pneumothorax.competition import SIIM
    from competitions.pneumothorax.config import load_experiment

    class Lazy(Dataset):
        def __len__(self) -> int:
            return n_images

        def __getitem__(self, index: int) -> dict:
            gen = torch.Generator().manual_seed(index)
            image = torch.randn(3, VAL_SIZE, VAL_SIZE, generator=gen)
            mask = (image[:1] > 1.0).float() if index % 4 else torch.zeros(1, VAL_SIZE, VAL_SIZE)
            return {"image": image, "mask": mask, "index": index}

    def criterion(outputs: dict, batch: dict) -> tuple[torch.Tensor, dict]:
        return nn.functional.binary_cross_entropy_with_logits(outputs["mask"], batch["mask"]), {}

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 1))
    metric = SIIM.triplet_metric(load_experiment(str(SIIM_RECIPE)), VAL_SIZE)
    loader = DataLoader(Lazy(), batch_size=VAL_BATCH)
    out = evaluate(model, loader, criterion, torch.device("cpu"), metric_fn=metric)
    return {"metric": float(np.float64(out["metric"])), "images": n_images}


def _predict(data: str, n_images: int, out: str) -> dict:
    """Child: Carvana test prediction of the first ``n_images`` test images through ``predict_folds``."""
    import torch

    from common.infer.fold_predict import predict_folds
    from common.infer.scaled import scaled_tta
    from common.infer.store import MapStore
    from common.infer.tta import TTAConfig
    from common.models import build_model
    from common.models.checkpoint import save_checkpoint
    from competitions.carvana.competition import CARVANA
    from competitions.carvana.config import load_experiment
    from competitions.carvana.data import read_carvana

    torch.set_num_threads(1)
    cfg = load_experiment(str(CARVANA_DEMO), [f"run.out={out}", f"source.root={data}"])
    torch.manual_seed(0)
    save_checkpoint(Path(out) / "fold0" / "best.pt", build_model(cfg.model))
    test = read_carvana(data).test.iloc[:n_images]
    tiles_only = dataclasses.replace(cfg.predict, tta=TTAConfig(), oof=False, device="cpu")  # TTA: in scaled_tta
    result = predict_folds([0], out, cfg.model, tiles_only, lambda fold: None,
                           CARVANA.dataset(cfg, test, train=False, with_masks=False),
                           wrap_model=scaled_tta(cfg.predict.tta, cfg.input.scale))  # fmt: skip
    return {"images": len(MapStore(result.test_mean).ids)}


def run() -> list[dict]:
    rows = []
    val = {n: _child_peak_mib(["validate", str(n)]) for n in VAL_CASES}
    small, large = VAL_CASES
    rows.append(row(BENCH, f"validation peak RSS, {small} images {VAL_SIZE}x{VAL_SIZE}", val[small][0], "MiB",
                    note="baseline"))  # fmt: skip
    rows.append(row(BENCH, f"validation peak RSS, {large} images {VAL_SIZE}x{VAL_SIZE}", val[large][0], "MiB",
                    baseline=val[small][0], baseline_name=f"{small} images",
                    note=f"growth x{val[large][0] / val[small][0]:.3f}; SIIM triplet metric, batch {VAL_BATCH}"))
    with tempfile.TemporaryDirectory() as tmp:
        from competitions.carvana import synth

        data = Path(tmp) / "data"
        synth.write_dataset(data, n_cars=1, n_test_cars=-(-max(PRED_CASES) // synth.N_VIEWS), seed=0)
        pred = {n: _child_peak_mib(["predict", str(data), str(n), str(Path(tmp) / f"run{n}")]) for n in PRED_CASES}
    small, large = PRED_CASES
    for n in PRED_CASES:
        if pred[n][1]["images"] != n:
            raise RuntimeError(f"prediction of {n} images wrote {pred[n][1]['images']} maps")
    rows.append(row(BENCH, f"Carvana tiled prediction peak RSS, {small} images 1918x1280", pred[small][0], "MiB",
                    note="baseline"))  # fmt: skip
    rows.append(row(BENCH, f"Carvana tiled prediction peak RSS, {large} images 1918x1280", pred[large][0], "MiB",
                    baseline=pred[small][0], baseline_name=f"{small} images",
                    note=f"growth x{pred[large][0] / pred[small][0]:.3f}; demo net, tiles 1536/256, uint8 store"))
    return rows


def _main(argv: list[str]) -> None:
    if argv and argv[0] == "validate":
        print(json.dumps(_validate(int(argv[1]))))
    elif argv and argv[0] == "predict":
        print(json.dumps(_predict(argv[1], int(argv[2]), argv[3])))
    else:
        print_rows(run())


if __name__ == "__main__":
    _main(sys.argv[1:])
