"""One batch of a corruption run: every (corruption, severity) of the grid, scored through every
defense, and the perturbation spectrum of each corruption (:class:`CorruptionBatches`, the
:class:`~hfc_robust.engine.loop.BatchEvaluator` that :func:`~hfc_robust.engine.loop.run_batches`
streams through the checkpointed batch loop).

A chunk holds, per defense ``j``, ``clean{j}`` (clean predictions); per corrupted cell ``i`` (table
position), ``pred{i}`` (the defended model's class on the corrupted image); and per
(corruption, severity) ``k``, ``cspec{k}``: the sum over the batch's images of the centred power
spectrum of the corruption's change to the image, ``mean over channels of
|fftshift(fft2(x_c - x))|^2`` (H x W, unnormalised FFT, numpy), in fixed point: each image's
spectrum divided by ``(H W)^2`` (at most 1) is rounded to a multiple of ``2^-40`` and held as an
int64 count of those steps, so the sums are exact and the same whatever the batch size, shard or
order (8 million images fit before int64 overflows). :data:`SPECTRUM_SCALE` converts back.

Shared work, which changes no outcome: each image is corrupted once per (corruption, severity)
(on the CPU, seeded per image) and that image is classified by every defense.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from ..corruptions.registry import corrupt
from ..data.dataset import to_unit_float
from .checkpoint import Chunk, array_name
from .grid import CorruptionGrid
from .inference import predict_classes
from .loop import CHECKPOINT_SECONDS

__all__ = ["CorruptionBatches", "corruption_power", "SPECTRUM_SCALE"]

SPECTRUM_SCALE = 2.0**40  #: fixed-point steps per unit of an image's power spectrum divided by (H W)^2


def corruption_power(corrupted: torch.Tensor, clean: torch.Tensor) -> np.ndarray:
    """Sum over images of ``mean over channels of |fftshift(fft2(corrupted - clean))|^2 / (H W)^2``,
    each image's rounded to a multiple of ``1 / SPECTRUM_SCALE``, as int64 steps (H x W): an exact sum."""
    delta = corrupted.detach().cpu().numpy().astype(np.float64) - clean.detach().cpu().numpy().astype(np.float64)
    pixels = float(delta.shape[-2] * delta.shape[-1])
    power = np.fft.fftshift((np.abs(np.fft.fft2(delta)) ** 2).mean(axis=1), axes=(-2, -1)) / pixels**2
    return np.rint(power * SPECTRUM_SCALE).astype(np.int64).sum(axis=0)


class CorruptionBatches:
    """The corruption grid's batch evaluator. One unit per corruption (all its severities); an
    interrupted batch keeps the units it saved (at least every ``CHECKPOINT_SECONDS`` of work)."""

    def __init__(self, grid: CorruptionGrid) -> None:
        self.grid = grid

    def __call__(
        self,
        indices: torch.Tensor,
        images: torch.Tensor,
        labels: torch.Tensor,
        step: Callable,
        saved_units: dict,
        save_unit: Callable,
    ) -> Chunk:
        grid, spec = self.grid, self.grid.spec
        chunk: Chunk = {"index": indices.cpu().numpy().astype(np.int64), "label": labels.cpu().numpy().astype(np.int64)}
        for d in grid.defenses:
            chunk[array_name("clean", grid.defense_position[d.key])] = (
                predict_classes(grid.modules[d.key], images).cpu().numpy().astype(np.int64)
            )
        clean = images.detach().cpu().numpy().astype(np.float64)
        ids = chunk["index"].tolist()
        pending: dict[str, np.ndarray] = {}
        last_save = time.monotonic()
        for unit, name in enumerate(spec.corruptions):
            step(unit / len(spec.corruptions), f"{name} ({unit + 1}/{len(spec.corruptions)})")
            if unit in saved_units:
                chunk.update(saved_units[unit])
                continue
            arrays = {}
            for severity in spec.severities:
                corrupted = to_unit_float(torch.from_numpy(corrupt(clean, name, severity, spec.seed, ids)))
                arrays[array_name("cspec", grid.pair_position[(name, severity)])] = corruption_power(corrupted, images)
                corrupted = corrupted.to(images.device)
                for d in grid.defenses:
                    i = grid.position(d.key, name, severity)
                    arrays[array_name("pred", i)] = (
                        predict_classes(grid.modules[d.key], corrupted).cpu().numpy().astype(np.int64)
                    )
            chunk.update(arrays)
            pending.update({f"u{unit}:{key}": value for key, value in arrays.items()})
            if time.monotonic() - last_save >= CHECKPOINT_SECONDS:
                save_unit(unit, pending)
                pending, last_save = {}, time.monotonic()
        return chunk
