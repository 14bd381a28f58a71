"""Training in the paper's vanilla set-up (Sec. 4.2: Adam, batch 100, Xavier initialisation, pixels in
[0, 1], no augmentation) with one switch per heuristic of Sec. 5: batch size, dropout, mix-up,
BatchNorm, adversarial training (FGSM with a random start), the optimizer, the input view.

Deterministic for a seed on one thread: the seed fixes the initial weights, the data order, the
mix-up draws and the adversarial starts. ``on_epoch(epoch, model, record)`` runs after every epoch
(the model in eval mode); it may return True to stop. The model keeps the CIFAR-10 normalisation
inside (:class:`~hfc_robust.models.architectures.Normalized`), like every model of the zoo.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...models.architectures import Normalized, PaperCNN
from ...models.registry import CIFAR10_MEAN, CIFAR10_STD
from ..training import augment_batch
from .views import view

__all__ = ["PaperTrainConfig", "build_model", "train_paper_model", "correct_per_image", "first_conv_kernels"]


@dataclass
class PaperTrainConfig:
    """One training run. ``eps``/``alpha`` on the [0, 1] pixel scale; ``input`` a view name (``x``,
    ``x_l@12``, ...) with ``rescale`` (``none`` or ``max``, :mod:`.views`)."""

    width: int = 16
    batchnorm: bool = False
    dropout: float = 0.0
    optimizer: str = "adam"  # adam | sgd
    lr: float = 1e-3
    momentum: float = 0.9
    batch_size: int = 100
    epochs: int = 20
    mixup_alpha: float = 0.0
    adversarial: str = "none"  # none | fgsm-rs
    eps: float = 8 / 255
    alpha: float = 10 / 255
    augment: str = "none"  # none | crop-flip
    input: str = "x"
    rescale: str = "none"
    seed: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def build_model(config: PaperTrainConfig, in_channels: int = 3) -> nn.Module:
    """PaperCNN with Xavier-uniform weights and zero biases (the paper's initialisation), seeded."""
    torch.manual_seed(config.seed)
    net = PaperCNN(10, in_channels, config.width, config.batchnorm, config.dropout)
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return Normalized(net, CIFAR10_MEAN, CIFAR10_STD)


def _fgsm_rs(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, config: PaperTrainConfig, generator: torch.Generator
) -> torch.Tensor:
    """FGSM from a uniform random start in the eps-ball (Wong et al. 2020), computed in eval mode."""
    delta = (torch.rand(images.shape, generator=generator) * 2 - 1) * config.eps
    delta = ((images + delta).clamp(0, 1) - images).requires_grad_(True)
    loss = F.cross_entropy(model(images + delta), labels)
    (grad,) = torch.autograd.grad(loss, delta)
    delta = (delta.detach() + config.alpha * grad.sign()).clamp(-config.eps, config.eps)
    return ((images + delta).clamp(0, 1)).detach()


def train_paper_model(
    config: PaperTrainConfig,
    images: torch.Tensor,
    labels: torch.Tensor,
    on_epoch: Callable[[int, nn.Module, dict], bool | None] | None = None,
    model: nn.Module | None = None,
) -> tuple[nn.Module, list[dict]]:
    """Train on uint8 or float N x C x H x W ``images`` (converted to ``config.input`` per batch).

    Returns the model (eval mode) and one record per epoch: ``epoch``, ``loss`` (mean training
    loss), ``seconds``; ``on_epoch`` may add to the record and stop the run by returning True.
    """
    model = model if model is not None else build_model(config, images.shape[1])
    generator = torch.Generator().manual_seed(config.seed)
    mix = np.random.default_rng(config.seed)
    optimizer: torch.optim.Optimizer
    if config.optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    elif config.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    else:
        raise ValueError(f"optimizer must be adam or sgd, got {config.optimizer!r}")
    steps = math.ceil(len(labels) / config.batch_size)
    history: list[dict] = []
    for epoch in range(1, config.epochs + 1):
        started = time.time()
        order = torch.randperm(len(labels), generator=generator)
        model.train()
        total = 0.0
        for step in range(steps):
            index = order[step * config.batch_size : (step + 1) * config.batch_size]
            batch = images[index]
            batch = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch.float()
            batch = augment_batch(batch, config.augment, generator)
            target = labels[index]
            if config.adversarial == "fgsm-rs":
                model.eval()
                batch = _fgsm_rs(model, batch, target, config, generator)
                model.train()
            elif config.adversarial != "none":
                raise ValueError(f"adversarial must be none or fgsm-rs, got {config.adversarial!r}")
            inputs = view(batch, config.input, config.rescale)
            if config.mixup_alpha > 0:
                lam = float(mix.beta(config.mixup_alpha, config.mixup_alpha))
                partner = torch.randperm(len(target), generator=generator)
                logits = model(lam * inputs + (1 - lam) * inputs[partner])
                loss = lam * F.cross_entropy(logits, target) + (1 - lam) * F.cross_entropy(logits, target[partner])
            else:
                loss = F.cross_entropy(model(inputs), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        model.eval()
        record = {"epoch": epoch, "loss": round(total / len(labels), 6), "seconds": round(time.time() - started, 2)}
        stop = on_epoch(epoch, model, record) if on_epoch is not None else None
        history.append(record)
        if stop:
            break
    model.eval()
    return model, history


def first_conv_kernels(model: nn.Module) -> np.ndarray:
    """The first convolution's kernels (out x in x k x k, float32) of a wrapped network (``model.net.conv1``)."""
    conv = model.get_submodule("net.conv1")
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"net.conv1 is a {type(conv).__name__}, not a Conv2d")
    return conv.weight.detach().numpy().astype(np.float32)


@torch.inference_mode()
def correct_per_image(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    names: list[str],
    rescale: str = "none",
    batch: int = 500,
) -> dict[str, np.ndarray]:
    """``{view name: bool array}``: whether ``model`` classifies each image's view correctly.

    ``rescale`` applies to the filtered views only; ``x`` is always fed as it is."""
    was_training = model.training
    model.eval()
    out: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for start in range(0, len(labels), batch):
        chunk = images[start : start + batch]
        chunk = chunk.float() / 255.0 if chunk.dtype == torch.uint8 else chunk.float()
        target = labels[start : start + batch]
        for name in names:
            inputs = view(chunk, name, "none" if name == "x" else rescale)
            out[name].append((model(inputs).argmax(1) == target).numpy())
    model.train(was_training)
    return {name: np.concatenate(parts) for name, parts in out.items()}
