"""What every attack adapter shares: eval-mode handling, the attack loss, per-example seeds."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import HfcError

__all__ = ["AdapterMixin", "attack_loss", "check_eps", "example_seed", "eval_mode", "LOSSES"]

LOSSES = ("ce", "margin")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode, then restore each one's own flag."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, flag in flags:
            module.training = flag


def attack_loss(logits: torch.Tensor, labels: torch.Tensor, loss: str = "ce") -> torch.Tensor:
    """Summed per-example loss to *maximise*: cross-entropy or the Carlini-Wagner margin
    ``max_{j != y} z_j - z_y`` on logits (positive once the example is misclassified)."""
    if loss == "ce":
        return F.cross_entropy(logits, labels, reduction="sum")
    if loss == "margin":
        true = logits.gather(1, labels[:, None]).squeeze(1)
        others = logits.masked_fill(F.one_hot(labels, logits.shape[1]).bool(), float("-inf"))
        return (others.max(1).values - true).sum()
    raise HfcError(f"unknown loss {loss!r}", f"use one of {', '.join(LOSSES)}")


def example_seed(seed: int, example_id: int, restart: int) -> int:
    """A stable 63-bit seed for one example's random start."""
    digest = hashlib.sha256(f"{seed}:{example_id}:{restart}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def check_eps(eps: float) -> float:
    if not (0.0 <= float(eps) <= 1.0):
        raise HfcError(f"eps must lie in [0, 1] on the pixel scale, got {eps}", "write it as 8/255 or 0.031")
    return float(eps)


class AdapterMixin:
    """Mode handling shared by the adapters: torchattacks' own ``__call__`` restores only
    ``model.train()`` wholesale, which would lose a mixed train/eval state."""

    model: nn.Module

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        with eval_mode(self.model):
            with torch.enable_grad():
                return self.forward(images, labels, *args, **kwargs).detach()  # type: ignore[attr-defined]
