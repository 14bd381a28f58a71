"""What every attack adapter shares: eval mode while it runs, the attack loss, per-example seeds.

**Batch-dependent bits.** The attacks evaluate examples in batches whose size changes as
examples leave (active sets), and the ports of the reference AutoAttack evaluate them in other
batches than the reference does. Whether a row's logits are the same bits in batches of
different sizes is a property of the CPU's kernels, not something PyTorch promises:

* on an AMD EPYC (the machine most of the committed results come from) they were the same bits
  in any batch of two or more rows;
* on an Intel Xeon with AVX-512 (``benchmarks/bench_active_sets.py --probe-only``, six models)
  they were the same bits in batches of 6 rows or more, and other bits in batches of 1 to 5 rows:
  MKL's matrix product and oneDNN's convolutions take other kernels for a few rows (float32
  rounding, up to 7.6e-6 on logits of median magnitude 1 to 2.5; ``MKL_CBWR=COMPATIBLE`` moved
  the limit to 7 rows instead of removing it).

What holds on both, and what the tests check: the same computation on the same batch gives the
same bits (so a run repeats byte for byte on one machine, whatever the thread count); a row's
logits in different batches agree to float32 rounding; and the per-example outcomes of the active
sets equal those of a fixed-batch evaluation and of the reference AutoAttack, up to float noise
deciding a margin that ties within rounding (on the Intel CPU, none of 1,552,000 outcomes of the
paper's Table 2 grids moved: ``benchmarks/bench_active_sets.py``; docs/guide/reproducibility.md).
Which batches a row is evaluated in depends
only on the row's own attack and the batch size, never on the rest of the grid, so grid
independence and sharding do not rest on this property."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import HfcError
from ..ops.modes import eval_mode
from ..ops.pooling import fast_pooling
from ..threat import ThreatModel
from .registry import LOSSES, check_loss

__all__ = [
    "AdapterMixin",
    "AttackOutput",
    "attack_loss",
    "whole_spectrum",
    "dead_gradient_rows",
    "example_seed",
    "seeded_global_rng",
    "frozen_parameters",
    "logits_as_in",
    "batch_rows",
    "LOSSES",
]


def whole_spectrum(threat: ThreatModel, attack: str) -> ThreatModel:
    """``threat`` for an attack without a band-limited form (FAB-T, Square); HfcError in a band."""
    if threat.band is not None:
        raise HfcError(
            f"{attack} has no band-limited form: it cannot attack in {threat.band.label}",
            "use pgd, apgd-ce, apgd-t or autoattack (its gradient stages) in a band",
        )
    return threat


def attack_loss(logits: torch.Tensor, labels: torch.Tensor, loss: str = "ce") -> torch.Tensor:
    """Summed per-example loss to *maximise*: cross-entropy or the Carlini-Wagner margin
    ``max_{j != y} z_j - z_y`` on logits (positive once the example is misclassified)."""
    if check_loss(loss) == "ce":
        return F.cross_entropy(logits, labels, reduction="sum")
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(labels, logits.shape[1]).bool(), float("-inf"))
    return (others.max(1).values - true).sum()


def dead_gradient_rows(grad: torch.Tensor) -> torch.Tensor:
    """Per example (row) of an N x ... input gradient: True where it is exactly zero or not finite,
    the gradient masking (or saturated loss) that leaves a gradient attack blind."""
    flat = grad.flatten(1)
    return (flat.abs().amax(1) == 0) | ~torch.isfinite(flat).all(1)


def example_seed(seed: int, example_id: int, restart: int) -> int:
    """A stable 63-bit seed for one example's random start on one restart: the first 8 bytes of
    ``sha256(f"{seed}:{example_id}:{restart}")`` read little-endian, top bit cleared. It depends on
    nothing else (not the batch, the device, eps or the rest of the grid)."""
    digest = hashlib.sha256(f"{seed}:{example_id}:{restart}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


@contextlib.contextmanager
def frozen_parameters(model: nn.Module) -> Iterator[nn.Module]:
    """Switch off ``requires_grad`` on the model's parameters while an attack runs, then restore
    each flag: the attack needs gradients with respect to the input only, and backward then skips
    the weight gradients. The input gradient is bit-for-bit the same (``tests/test_autoattack.py``)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def logits_as_in(model: nn.Module, x: torch.Tensor, batch: int) -> torch.Tensor:
    """``model(x)`` for rows that the reference implementation evaluates inside a batch of
    ``batch`` rows. A batch of one takes another convolution path than a batch of two or more;
    an attack that drops finished examples (an active set) pads a lone row with a detached copy,
    so that it is evaluated as in a larger batch: the same bits as the reference's batch where
    the CPU's kernels give a row the same bits in any batch of two or more (measured on an AMD
    EPYC), float32 rounding away from them elsewhere (see the module docstring)."""
    if len(x) == 1 and batch > 1:
        return model(torch.cat([x, x.detach()]))[:1]
    return model(x)


def batch_rows(device: torch.device) -> int:
    """About how many rows an attack puts in one batch when it can choose (targets attacked
    together, queries evaluated ahead, a large APGD batch cut in pieces). On a CPU a forward and
    backward pass costs the least per row at 16-64 rows for the models of
    benchmarks/bench_autoattack.py (ResNet-20: 2.0 ms a row at 5 rows, 1.45 at 45, 1.9 at 90; the
    Fashion-MNIST CNN: 0.50, 0.42, 0.43, 0.59 at 180); a GPU wants large batches."""
    return 48 if torch.device(device).type == "cpu" else 4096


@dataclass
class AttackOutput:
    """What one attack run on a batch returns.

    ``adversarial``: per example, an input that fooled the attacked model when one was found,
    else the attack's final candidate. ``predictions``: the attacked model's class at
    ``adversarial`` as the attack itself computed it (None when it did not), so the caller
    scores exactly what the attack saw. ``transfers``: full-budget candidates to classify
    through *other* models (oblivious rows); an example is robust to the transfer attack only
    if every candidate is classified correctly. ``stages``: for a cascade, ``(component,
    adversarial, predictions)`` after each component, cumulative. ``seconds``: a cascade's wall
    time per component (run.json sums them over batches). ``first_gradients``: ``(examples, dead)``
    for an attack that reports its own first gradient step: how many examples it took a gradient
    step on, and for how many of them that first input gradient was zero or not finite
    (:func:`dead_gradient_rows`); None when it does not report, and the engine then checks the
    gradient at the clean input itself.
    """

    adversarial: torch.Tensor
    predictions: torch.Tensor | None = None
    transfers: list[torch.Tensor] = field(default_factory=list)
    stages: list[tuple[str, torch.Tensor, torch.Tensor | None]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    first_gradients: tuple[int, int] | None = None


@contextlib.contextmanager
def seeded_global_rng(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Seed torch's global generators for an attack that draws from them (torchattacks' APGD,
    FAB, Square), and restore the caller's generator state afterwards."""
    devices = [device] if device is not None and torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed % (1 << 63))
        yield


class AdapterMixin:
    """Mode handling shared by the adapters: torchattacks' own ``__call__`` restores only
    ``model.train()`` wholesale, which would lose a mixed train/eval state. Every run is inside
    :func:`~hfc_robust.ops.pooling.fast_pooling` (the same bits, faster max-pooling on a CPU)."""

    model: nn.Module

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        with eval_mode(self.model), fast_pooling():
            with torch.enable_grad():
                return self.forward(images, labels, *args, **kwargs).detach()  # type: ignore[attr-defined]

    def run(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        example_ids: torch.Tensor | None = None,
        full_budget: bool = False,
    ) -> AttackOutput:
        """Attack a batch in eval mode. ``full_budget=True`` asks for transfer candidates that used
        the whole budget (no early stop), for oblivious rows."""
        with eval_mode(self.model), fast_pooling():
            with torch.enable_grad():
                return self.attack_batch(images.detach(), labels.detach(), example_ids, full_budget)

    def attack_batch(
        self, images: torch.Tensor, labels: torch.Tensor, example_ids: torch.Tensor | None, full_budget: bool
    ) -> AttackOutput:
        adversarial = self.forward(images, labels, example_ids).detach()  # type: ignore[attr-defined]
        return AttackOutput(adversarial, None, [adversarial])
