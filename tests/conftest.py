"""Shared fixtures. Tests that need ../shared or Debian's Fashion-MNIST training set skip
cleanly, with the reason, when they are absent.

Every test runs torch on one thread, and so does every subprocess a test starts: the tests
are small, and on a busy 2-core machine OpenMP threads waiting on each other made the suite
several times slower (issue 10).
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported, and inherited by subprocesses
os.environ["MKL_NUM_THREADS"] = "1"

from pathlib import Path

import pytest
import torch
import torch.nn as nn

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HFC_ROBUST_SHARED", ROOT.parent / "shared"))
CIFAR_NPZ = SHARED / "data" / "cifar10" / "cifar10_test_first1000.npz"
RESNET20 = SHARED / "models" / "cifar10-resnet" / "resnet20-12fca82f.th"
FMNIST_TRAIN = Path(os.environ.get("HFC_ROBUST_FMNIST_TRAIN", "/usr/share/datasets/fashion-mnist"))

_shared_absent = pytest.mark.skipif(
    not (CIFAR_NPZ.is_file() and RESNET20.is_file()), reason=f"shared CIFAR-10 data/models not found under {SHARED}"
)
_fmnist_train_absent = pytest.mark.skipif(
    not (FMNIST_TRAIN / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"Fashion-MNIST training set not found under {FMNIST_TRAIN} (apt-get install dataset-fashion-mnist, "
    "or set HFC_ROBUST_FMNIST_TRAIN)",
)


def needs_shared(test):
    """Needs ../shared (CIFAR-10, ResNets): skipped without it, and run with the slow tests
    (`python -m pytest -m slow`), since real models on real data take seconds."""
    return pytest.mark.slow(_shared_absent(test))


def needs_fmnist_train(test):
    """Needs Debian's Fashion-MNIST training set: skipped without it, run with the slow tests."""
    return pytest.mark.slow(_fmnist_train_absent(test))


class TinyCNN(nn.Module):
    """A small CNN on 1x12x12 inputs for fast attack tests."""

    def __init__(self, classes: int = 4, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1, stride=2)
        self.fc = nn.Linear(8 * 6 * 6, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(x.flatten(1))


@pytest.fixture
def tiny_model() -> nn.Module:
    return TinyCNN().eval()


@pytest.fixture
def tiny_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(16, 1, 12, 12, generator=generator), torch.randint(0, 4, (16,), generator=generator)
