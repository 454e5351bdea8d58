"""The per-epoch validation metric of instance competitions trained on (body, border, full) targets
(:func:`common.data.instance_targets.make_targets`): the mean DSB average precision of the instances
extracted from the predicted maps against the truth instances recovered from the truth targets (a
close proxy of the real truth, which the engine does not carry)."""

from __future__ import annotations

import numpy as np

from common.data.instance_targets import target_instances
from common.metrics import dsb_average_precision
from common.post.instances import InstanceConfig
from common.train.val_metric import PerImageMean, ValidationMetric

# every body component of the binary truth targets is a seed, grown into the full mask
TRUTH_RECOVERY = InstanceConfig(seed_threshold=0.5, mask_threshold=0.5, extended_threshold=0.5,
                                min_seed_area=1, min_area=1)


def target_instances_ap(instance: InstanceConfig) -> ValidationMetric:
    """Mean AP of ``target_instances(prob, instance)`` against the instances of the truth targets."""

    def score(prob: np.ndarray, truth: np.ndarray) -> float:
        recovered = target_instances(truth.astype(np.float32), TRUTH_RECOVERY)
        return dsb_average_precision(recovered, target_instances(prob, instance))

    return PerImageMean(score)
