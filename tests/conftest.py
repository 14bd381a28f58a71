"""Shared fixtures. Tests that need ../shared skip cleanly when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__import__("os").environ.get("HFC_ROBUST_SHARED", ROOT.parent / "shared"))
CIFAR_NPZ = SHARED / "data" / "cifar10" / "cifar10_test_first1000.npz"
RESNET20 = SHARED / "models" / "cifar10-resnet" / "resnet20-12fca82f.th"

needs_shared = pytest.mark.skipif(not (CIFAR_NPZ.is_file() and RESNET20.is_file()),
                                  reason=f"shared CIFAR-10 data/models not found under {SHARED}")


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
