"""Suite-wide test settings.

One torch thread per test process: the suite runs on 2-core CI machines (and gloo tests start two
processes), where the default thread pool oversubscribes the cores and small convolutions run many
times slower.
"""

import torch

torch.set_num_threads(1)
