"""Seeded, reproducible training of the small reference models.

Used by ``scripts/train_*.py`` and ``hfc-robust train``. Supports training on the full
image, on its low- or high-frequency part only (paper Table 1), and FGSM adversarial
training with a random start (Wong et al. 2020, "Fast is better than free"), the
CPU-affordable stand-in for PGD adversarial training.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..ops.frequency import split_frequencies

__all__ = ["TrainConfig", "train_classifier", "evaluate_accuracy", "seed_everything"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainConfig:
    """Training hyper-parameters. ``eps``/``alpha`` are on the [0, 1] pixel scale."""

    epochs: int = 8
    batch_size: int = 128
    lr: float = 0.05
    weight_decay: float = 5e-4
    seed: int = 0
    input: str = "full"  # full | low | high
    radius: float = 8.0
    inclusive: bool = True
    adversarial: str = "none"  # none | fgsm-rs | pgd
    eps: float = 8 / 255
    alpha: float | None = None  # FGSM-RS: 1.25 * eps (Wong et al.); PGD: eps / 4
    pgd_steps: int = 7
    augment: str = "crop-flip"  # crop-flip | crop | flip | none


def _input_view(images: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    if config.input == "full":
        return images
    low, high = split_frequencies(images, config.radius, config.inclusive)
    if config.input == "low":
        return low
    if config.input == "high":
        return high
    raise ValueError(f"input must be full, low or high, got {config.input!r}")


def augment_batch(images: torch.Tensor, mode: str, generator: torch.Generator) -> torch.Tensor:
    """``mode``: ``none``, ``flip`` (horizontal, p = 0.5) or crop-and-flip (pad 2 or 4 pixels)."""
    if mode == "none":
        return images
    n, _, h, w = images.shape
    if mode == "flip":
        flip = torch.rand(n, generator=generator) < 0.5
        return torch.where(flip[:, None, None, None], images.flip(-1), images)
    pad = 2 if h <= 28 else 4
    padded = F.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = torch.arange(h)[None, :] + dy[:, None]  # n x h
    cols = torch.arange(w)[None, :] + dx[:, None]  # n x w
    batch = torch.arange(n)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if mode == "crop-flip":
        flip = torch.rand(n, generator=generator) < 0.5
        out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    return out.contiguous()


def _adversarial(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, config: TrainConfig, generator: torch.Generator
) -> torch.Tensor:
    if config.adversarial == "none":
        return images
    eps = config.eps
    if config.adversarial == "fgsm-rs":
        alpha, steps = (config.alpha or 1.25 * eps), 1
    elif config.adversarial == "pgd":
        alpha, steps = (config.alpha or eps / 4), config.pgd_steps
    else:
        raise ValueError(f"adversarial must be none, fgsm-rs or pgd, got {config.adversarial!r}")
    delta = (torch.rand(images.shape, generator=generator) * 2 - 1) * eps
    delta = (images + delta).clamp(0, 1) - images
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model(_input_view(images + delta, config)), labels)
        (grad,) = torch.autograd.grad(loss, delta)
        delta = (delta.detach() + alpha * grad.sign()).clamp(-eps, eps)
        delta = (images + delta).clamp(0, 1) - images
    return (images + delta).detach()


@torch.inference_mode()
def evaluate_accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int = 500,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> float:
    """Top-1 accuracy of ``model`` on float images in [0, 1] (uint8 is scaled by 1/255)."""
    was_training = model.training
    model.eval()
    correct = 0
    for lo in range(0, len(labels), batch_size):
        batch = images[lo : lo + batch_size]
        batch = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch.float()
        if transform is not None:
            batch = transform(batch)
        correct += int((model(batch).argmax(1) == labels[lo : lo + batch_size]).sum())
    model.train(was_training)
    return correct / len(labels)


def train_classifier(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    config: TrainConfig,
    progress: Callable[[int, int, float], None] | None = None,
) -> nn.Module:
    """Train ``model`` in place with SGD + one-cycle LR; deterministic for a given seed.

    ``images`` is uint8 or float N x C x H x W; it is scaled to [0, 1] per batch.
    ``progress(epoch, step, loss)`` is called after every step.
    """
    seed_everything(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay
    )
    steps_per_epoch = math.ceil(len(labels) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, epochs=config.epochs, steps_per_epoch=steps_per_epoch, pct_start=0.25
    )
    for epoch in range(config.epochs):
        order = torch.randperm(len(labels), generator=generator)
        model.train()
        for step in range(steps_per_epoch):
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            batch = images[idx]
            batch = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch.float()
            batch = augment_batch(batch, config.augment, generator)
            target = labels[idx]
            if config.adversarial != "none":
                model.eval()  # craft with fixed BN statistics, then train
                batch = _adversarial(model, batch, target, config, generator)
                model.train()
            loss = F.cross_entropy(model(_input_view(batch, config)), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if progress is not None:
                progress(epoch, step, loss.item())
    model.eval()
    return model
