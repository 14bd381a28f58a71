"""Minimal eps per example, in the run's norm (L-inf or L2): a seeded bisection on eps with PGD
(``--min-eps``).

For each (defense, threat) pair, white-box for the bare model and adaptive (PGD through the
defended model, as the ``pgd`` adaptive row) for each defense, and each example the scored
model classifies correctly clean:

1. PGD at ``max_eps`` (the grid's steps, restarts, loss, random start and seed; step size
   ``eps / 4`` per example unless ``--step-size`` is given; early stop). An example it does not
   fool gets ``+inf`` ("> max_eps").
2. The others are bisected on ``[0, max_eps]``: PGD at the midpoint, each example at its own
   eps in one batched call (:class:`~hfc_robust.attacks.pgd.PGD` takes an eps tensor); success
   moves the upper end down, failure the lower end up, until the interval is at most
   the norm's tolerance wide (:attr:`Norm.min_eps_tolerance`: 0.25/255 for L-inf, 0.01 for L2). The result
   is the upper end: an eps at which PGD succeeded, with a failed eps (or 0, where the example is
   classified correctly) less than the tolerance below.

Examples misclassified clean get 0. Every example starts from the same seeded direction at
every eps (its start is ``x + eps * u`` with ``u`` drawn from (seed, example id, restart) in the
norm's unit ball), so
the bisection is deterministic. PGD is not monotone in eps: an example may be fooled at some
eps and not at a larger one. What holds exactly is that the bisection's outcome at each eps it
queried is the fixed-eps PGD outcome there (same attack, same start); with the default
``max_eps = 2 x`` the largest grid eps, that eps is the first midpoint of every bisection.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..attacks.pgd import PGD
from ..defenses.spec import DefenseSpec
from ..threat import ThreatModel

if TYPE_CHECKING:
    from ..attacks.registry import AttackOptions
    from .grid import AttackGrid

__all__ = ["min_eps_pairs", "bisect_min_eps", "min_eps_arrays", "bisection_steps"]


def bisection_steps(max_eps: float, tol: float) -> int:
    """Halvings of ``[0, max_eps]`` until the interval is at most ``tol`` wide."""
    return max(0, math.ceil(math.log2(max_eps / tol) - 1e-12))


def min_eps_pairs(defenses: list[DefenseSpec]) -> list[tuple[DefenseSpec, str]]:
    """``(defense, threat)`` pairs that get a minimal eps: white-box for the bare model, adaptive otherwise."""
    return [(d, "whitebox" if d.kind == "none" else "adaptive") for d in defenses]


def bisect_min_eps(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    example_ids: torch.Tensor,
    options: AttackOptions,
    threat: ThreatModel,
    tol: float | None = None,
) -> np.ndarray:
    """Minimal eps (float64, [0, 1] scale, in ``threat``'s norm, bisected up to ``threat.eps``; ``inf``
    when PGD there fails) of examples the model classifies correctly. ``options``: the grid's
    :class:`~hfc_robust.attacks.registry.AttackOptions`; ``tol`` default: the norm's
    :attr:`~hfc_robust.threat.Norm.min_eps_tolerance`."""
    tol = threat.norm.min_eps_tolerance if tol is None else tol
    max_eps = threat.eps
    n = len(labels)
    result = np.full(n, np.inf)
    if n == 0:
        return result

    def fooled(rows: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        attack = PGD(
            model,
            threat,
            alpha=options.step_size,
            steps=options.steps,
            random_start=options.random_start,
            restarts=options.restarts,
            loss=options.loss,
            seed=options.seed,
            per_example_eps=eps,
        )
        output = attack.run(images[rows], labels[rows], example_ids[rows.cpu()])
        assert output.predictions is not None  # PGD reports its predictions
        return (output.predictions != labels[rows]).cpu()

    everyone = torch.arange(n, device=labels.device)
    rows = everyone[fooled(everyone, torch.full((n,), float(max_eps), dtype=torch.float64)).to(labels.device)]
    low = torch.zeros(len(rows), dtype=torch.float64)
    high = torch.full((len(rows),), float(max_eps), dtype=torch.float64)
    for _ in range(bisection_steps(max_eps, tol) if len(rows) else 0):
        middle = (low + high) / 2
        success = fooled(rows, middle)
        high = torch.where(success, middle, high)
        low = torch.where(success, low, middle)
    result[rows.cpu().numpy()] = high.numpy()
    return result


def min_eps_arrays(
    grid: AttackGrid,
    indices: torch.Tensor,
    images: torch.Tensor,
    labels: torch.Tensor,
    correct: dict[str, torch.Tensor],
    step: Callable[[float, str], None],
) -> dict[str, np.ndarray]:
    """Chunk arrays ``mineps{j}`` (j: the defense's position), one float64 per example of the batch:
    0 for examples the model misclassifies clean, ``inf`` beyond the maximum eps."""
    spec = grid.spec
    limit = spec.threat(spec.norm.min_eps_limit(spec.radii_of_ball(), spec.min_eps_max))
    arrays = {}
    for d, threat in min_eps_pairs(grid.defenses):
        step(1.0, f"minimal eps ({threat}) of {d.key}")
        rows = correct[d.key].nonzero().flatten()
        values = np.zeros(len(labels))
        values[rows.cpu().numpy()] = bisect_min_eps(
            grid.modules[d.key], images[rows], labels[rows], indices[rows.cpu()], grid.options, limit
        )
        arrays[f"mineps{grid.defense_position[d.key]}"] = values
    return arrays
