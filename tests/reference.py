"""Independent references for the tests, written from the paper and from hfc-robust's documented
rules. Nothing here imports hfc_robust: a test that compares the package with these compares two
independent implementations.

* the low-pass filter (paper Sec. 3): ``x_l = real(ifft2(ifftshift(mask * fftshift(fft2(x)))))``,
  computed in float64 with the full complex FFT (the package uses ``rfft2`` in float32), keeping
  the bins at distance ``<= r`` from ``(H // 2, W // 2)``;
* Eq. 3 kernel smoothing: ``w_ij + rho * (sum of the 8 neighbours)``, edges replicated, written as
  explicit loops over the kernel;
* L-inf PGD with per-example random starts, the rule documented in ``hfc_robust.attacks.base.example_seed``
  and ``PGD.random_starts``: example ``i`` on restart ``r`` starts at ``clip(x + eps * u, 0, 1)`` with
  ``u = 2 * torch.rand(C, H, W, generator=torch.Generator().manual_seed(s)) - 1`` and
  ``s = int.from_bytes(sha256(f"{seed}:{i}:{r}").digest()[:8], "little") & (2**63 - 1)``; each step
  is ``clip(x + clip(x_t + alpha * sign(grad) - x, -eps, eps), 0, 1)`` on the summed cross-entropy.
  This loop runs every example for the whole budget and every restart (the package stops early
  and skips examples already broken; neither changes whether an example is broken).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def low_pass(x: torch.Tensor, radius: float, inclusive: bool = True) -> torch.Tensor:
    """The paper's x_l, per image and channel, in float64; returned in ``x``'s dtype."""
    height, width = x.shape[-2:]
    rows = np.arange(height)[:, None] - height // 2
    cols = np.arange(width)[None, :] - width // 2
    distance = np.sqrt(rows**2 + cols**2)
    mask = torch.as_tensor((distance <= radius) if inclusive else (distance < radius), dtype=torch.float64)
    centred = torch.fft.fftshift(torch.fft.fft2(x.to(torch.float64)), dim=(-2, -1))
    low = torch.fft.ifft2(torch.fft.ifftshift(centred * mask, dim=(-2, -1))).real
    return low.to(x.dtype)


class LowPassModel(nn.Module):
    """``model(low_pass(x))``; ``bpda=True`` back-propagates through the filter as the identity."""

    def __init__(self, model: nn.Module, radius: float, bpda: bool = False) -> None:
        super().__init__()
        self.model, self.radius, self.bpda = model, radius, bpda

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = low_pass(x, self.radius)
        if self.bpda:
            low = x + (low - x).detach()
        return self.model(low)


def smooth_first_conv(model: nn.Module, rho: float) -> nn.Module:
    """A copy of ``model`` whose first ``nn.Conv2d`` has its kernels smoothed by Eq. 3 (not normalized)."""
    smoothed = copy.deepcopy(model)
    conv = next(m for m in smoothed.modules() if isinstance(m, nn.Conv2d))
    weight = conv.weight.detach().numpy().astype(np.float64)
    out = weight.copy()
    kh, kw = weight.shape[-2:]
    for i in range(kh):
        for j in range(kw):
            total = np.zeros(weight.shape[:2])
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    if di or dj:
                        ii, jj = min(max(i + di, 0), kh - 1), min(max(j + dj, 0), kw - 1)  # replicate the edge
                        total += weight[:, :, ii, jj]
            out[:, :, i, j] = weight[:, :, i, j] + rho * total
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(out, dtype=conv.weight.dtype))
    return smoothed


def example_seed(seed: int, example_id: int, restart: int) -> int:
    digest = hashlib.sha256(f"{seed}:{example_id}:{restart}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def random_start(x: torch.Tensor, ids: list[int], eps: float, seed: int, restart: int) -> torch.Tensor:
    noise = torch.stack(
        [
            torch.rand(
                x.shape[1:], generator=torch.Generator().manual_seed(example_seed(seed, i, restart)), dtype=x.dtype
            )
            * 2
            - 1
            for i in ids
        ]
    )
    return (x + eps * noise).clamp(0, 1)


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1)


@dataclass
class PGDResult:
    fooled: torch.Tensor  # some iterate of some restart was misclassified
    first: torch.Tensor  # the first misclassified iterate (restarts in order), else the last restart's last iterate
    finals: list[torch.Tensor]  # each restart's last iterate (the transfer candidates of a full-budget run)


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int,
    alpha: float | None = None,
    restarts: int = 1,
    seed: int = 0,
    start: bool = True,
    ids: list[int] | None = None,
) -> PGDResult:
    """L-inf PGD as documented, every example for the whole budget of every restart."""
    alpha = eps / 4 if alpha is None else alpha
    ids = list(range(len(y))) if ids is None else ids
    fooled = torch.zeros(len(y), dtype=torch.bool)
    first, finals = x.clone(), []
    for restart in range(restarts):
        current = random_start(x, ids, eps, seed, restart) if start else x.clone()
        for step in range(steps + 1):
            pred = predict(model, current)
            new = (pred != y) & ~fooled
            first[new] = current[new]
            fooled |= new
            if step == steps:
                break
            current = current.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(model(current), y, reduction="sum"), current)
            delta = (current.detach() + alpha * grad.sign() - x).clamp(-eps, eps)
            current = (x + delta).clamp(0, 1)
        finals.append(current.detach())
    first[~fooled] = finals[-1][~fooled]
    return PGDResult(fooled, first, finals)
