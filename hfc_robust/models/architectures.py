"""Network definitions: the CIFAR ResNet family and the reference Fashion-MNIST CNN.

Normalization is part of the model (:class:`Normalized`), so every attack works on
pixels in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["Normalized", "CifarResNet", "FashionCNN", "SmallCifarNet", "PaperCNN", "cifar_resnet"]


class Normalized(nn.Module):
    """``net((x - mean) / std)`` for pixels x in [0, 1]; mean/std are per channel."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


class _OptionAShortcut(nn.Module):
    """He et al. option A: subsample by 2 and zero-pad the new channels (no weights)."""

    def __init__(self, planes: int) -> None:
        super().__init__()
        self.pad = planes // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad), "constant", 0.0)


class _BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = _OptionAShortcut(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """CIFAR ResNet (He et al. 2016): 3 stages of 16/32/64 channels, 6n+2 layers.

    State-dict compatible with the widely used pretrained checkpoints
    (keys ``conv1``, ``bn1``, ``layer{1,2,3}.{i}.conv1/bn1/conv2/bn2``, ``linear``).
    """

    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        blocks = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.in_planes = 16
        self.layer1 = self._stage(16, blocks, 1)
        self.layer2 = self._stage(32, blocks, 2)
        self.layer3 = self._stage(64, blocks, 2)
        self.linear = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def _stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for block_stride in [stride] + [1] * (blocks - 1):
            layers.append(_BasicBlock(self.in_planes, planes, block_stride))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def cifar_resnet(depth: int, num_classes: int = 10) -> CifarResNet:
    return CifarResNet(depth, num_classes)


class _ConvBNStack(nn.Module):
    """3x3 conv + BN + ReLU layers named ``conv{i}``/``bn{i}``, a 2x2 max-pool after each of the
    first ``pooled`` layers, global average pool, then ``linear``."""

    def __init__(self, channels: Sequence[int], pooled: int, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.depth, self.pooled = len(channels), pooled
        for i, (cin, cout) in enumerate(zip([in_channels, *channels[:-1]], channels), start=1):
            setattr(self, f"conv{i}", nn.Conv2d(cin, cout, 3, padding=1, bias=False))
            setattr(self, f"bn{i}", nn.BatchNorm2d(cout))
        self.linear = nn.Linear(channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for i in range(1, self.depth + 1):
            out = F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(out)))
            if i <= self.pooled:
                out = F.max_pool2d(out, 2)
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


class FashionCNN(_ConvBNStack):
    """Small reference CNN for 1 x 28 x 28 inputs (about 0.1 M parameters): 32/64/128 channels,
    max-pool after the first two layers (28 -> 14 -> 7)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 32) -> None:
        super().__init__((width, 2 * width, 4 * width), pooled=2, num_classes=num_classes, in_channels=in_channels)


class SmallCifarNet(_ConvBNStack):
    """Small CIFAR-10 CNN for CPU training (about 0.24 M parameters): four 3x3 conv + BN
    layers (32/64/128/128 channels, max-pool after the first three), global average pool.
    Its first layer is a 3x3 conv, so kernel smoothing (paper Eq. 3) applies."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 32) -> None:
        super().__init__(
            (width, 2 * width, 4 * width, 4 * width), pooled=3, num_classes=num_classes, in_channels=in_channels
        )


class PaperCNN(nn.Module):
    """SmallCifarNet's layout with the paper's training heuristics as switches (Sec. 5): four 3x3
    conv layers (``width``, 2, 4, 4 x ``width`` channels, max-pool after the first three), each
    followed by BatchNorm when ``batchnorm`` (conv bias otherwise), ReLU, global average pool,
    dropout with probability ``dropout`` before the linear layer. Without BatchNorm it is the
    official code's setting (its ResNet's ``batch_normalization_layer`` returns its input)."""

    def __init__(
        self, num_classes: int = 10, in_channels: int = 3, width: int = 32, batchnorm: bool = True, dropout: float = 0.0
    ) -> None:
        super().__init__()
        channels = (width, 2 * width, 4 * width, 4 * width)
        self.depth, self.pooled, self.batchnorm = len(channels), 3, batchnorm
        for i, (cin, cout) in enumerate(zip([in_channels, *channels[:-1]], channels), start=1):
            setattr(self, f"conv{i}", nn.Conv2d(cin, cout, 3, padding=1, bias=not batchnorm))
            if batchnorm:
                setattr(self, f"bn{i}", nn.BatchNorm2d(cout))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.linear = nn.Linear(channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for i in range(1, self.depth + 1):
            out = getattr(self, f"conv{i}")(out)
            if self.batchnorm:
                out = getattr(self, f"bn{i}")(out)
            out = F.relu(out)
            if i <= self.pooled:
                out = F.max_pool2d(out, 2)
        return self.linear(self.dropout(F.adaptive_avg_pool2d(out, 1).flatten(1)))
