"""SIIM-ACR Pneumothorax end to end (data, prepare, train, predict, postprocess, stack, submit), the
prepared tables read once; writes ``summary.json`` and prints ``cv_score=``:
``python -m competitions.pneumothorax.pipeline --config competitions/pneumothorax/configs/demo.yaml``.
Multi-GPU: run it under ``torchrun``; ranks other than 0 only help training."""

from common.recipe.triplet_stages import pipeline_stage
from competitions.pneumothorax import train
from competitions.pneumothorax.competition import SIIM

run, main = pipeline_stage(SIIM, __doc__, train=train.run)

if __name__ == "__main__":
    main()
