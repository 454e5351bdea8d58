"""Fixtures for common.models tests: one intra-op thread (the test machines are shared and
oversubscribed threads make tiny CPU convolutions 10-30x slower) and a fixed seed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def _single_thread_seeded() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
