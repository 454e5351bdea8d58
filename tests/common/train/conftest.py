"""Run the engine tests single-threaded: the toy models are tiny, and on a shared 2-core machine
intra-op threads only add synchronisation cost."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
