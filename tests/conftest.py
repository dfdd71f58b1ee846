"""Shared fixtures: deterministic threads and seeds, the optional real CIFAR-10 subset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

# The CI machine has 2 cores; more threads than that only add contention.
torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = Path(__file__).resolve().parents[1]
CIFAR_SUBSET = Path(
    os.environ.get("CSSL_EDU_CIFAR_SUBSET", REPO.parent / "shared" / "data" / "cifar10-subset.npz")
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser test (tests/test_browser.py) last, after the lessons' nbval runs: its
    lessons then load the pre-load checkpoints those runs made instead of training them again."""
    last = [item for item in items if item.nodeid.startswith("tests/test_browser.py")]
    if last:
        items[:] = [item for item in items if item not in last] + last


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Treat "no tests collected" (exit 5) as success, so a filtered run never fails CI for that alone."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 - legacy global RNG, for code under test that uses it


@pytest.fixture
def one_thread():
    """Run the test with one torch thread: for tests of many tiny ops, where on a busy 2-core
    machine a second thread only adds waiting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def cifar_subset_path() -> Path:
    """Path to the 6,187 real CIFAR-10 images in ``../shared/data``; the test skips if it is absent."""
    if not CIFAR_SUBSET.is_file():
        pytest.skip(
            f"real CIFAR-10 subset not found at {CIFAR_SUBSET} (only present on the project's machines)"
        )
    return CIFAR_SUBSET


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
