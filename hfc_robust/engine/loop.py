"""The checkpointed batch loop every run streams its data through (:func:`run_batches`), whatever
it evaluates per batch (a :class:`BatchEvaluator`: the attack grid's or the corruption grid's).

Each finished batch's chunk is appended to the :class:`~hfc_robust.engine.checkpoint.OutcomeStore`,
and a slow batch saves its finished units on the way, so an interrupted run resumes where it
stopped and finished work is never lost.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch

from ..data.dataset import Dataset
from ..errors import HfcWarning
from .checkpoint import Chunk, OutcomeStore

__all__ = ["run_batches", "BatchEvaluator", "Progress", "DEVICE_ARRAY", "CHECKPOINT_SECONDS"]

Progress = Callable[..., None]
DEVICE_ARRAY = "device_type"  # in every chunk: where its outcomes were computed
CHECKPOINT_SECONDS = 30.0  # inside a slow batch, finished units are saved at least this often


class BatchEvaluator(Protocol):
    """What :func:`run_batches` evaluates: one batch's chunk (per-example arrays) from its indices,
    [0, 1] images and labels (on the run's device), a progress ``step(fraction, text)``, the units
    an interrupted run saved for this batch, and a ``save_unit(unit, arrays)`` callback."""

    def __call__(
        self,
        indices: torch.Tensor,
        images: torch.Tensor,
        labels: torch.Tensor,
        step: Callable[[float, str], None],
        saved_units: dict[int, Chunk],
        save_unit: Callable[[int, Chunk], None],
    ) -> Chunk: ...


def run_batches(
    evaluate: BatchEvaluator,
    dataset: Dataset,
    store: OutcomeStore,
    first: int,
    stop: int,
    batch_size: int,
    device: torch.device,
    progress: Progress | None = None,
    notify: Callable[[str], None] | None = None,
) -> int:
    """Evaluate the batches of rows ``first..stop`` that are not yet in ``store``, appending each
    finished batch's chunk (the checkpoint); returns the rows that were already there (resumed)."""
    done = store.done_rows(first)
    total = stop - first
    if 0 < done < total and computed_on(store, first) != device.type:
        # a CPU and a GPU can differ by float noise: one table is never assembled from both
        warnings.warn(
            f"the checkpoint in {store.folder} was computed on {computed_on(store, first)}, this run uses "
            f"{device.type}; starting again",
            HfcWarning,
            stacklevel=2,
        )
        store.clear()
        done = 0
    resumed = done
    if done and notify:
        notify(f"resuming from {done} of {total} images (finished batches in {store.folder})")
    if progress:
        progress(done, total, None)
    for indices, images, labels in dataset.batches(batch_size, start=first + done, stop=stop):
        start = first + done
        chunk = evaluate(
            indices,
            images.to(device),
            labels.to(device),
            _BatchProgress(progress, done, len(labels), total),
            store.units(start),
            _UnitSaver(store, start),
        )
        store.append(start, {**chunk, DEVICE_ARRAY: np.array(device.type)})
        store.drop_units(start)
        done += len(labels)
        if progress:
            progress(done, total, None)
    return resumed


def computed_on(store: OutcomeStore, first: int) -> str | None:
    """The device type (``cpu``, ``cuda``, ``mps``) the store's chunk at ``first`` was computed on."""
    try:
        return str(store.read(first, DEVICE_ARRAY))
    except KeyError:
        return None


class _BatchProgress:
    """``step(fraction, text)`` inside one batch, reported as images done of the whole run."""

    def __init__(self, progress: Progress | None, base: int, size: int, total: int) -> None:
        self.progress, self.base, self.size, self.total = progress, base, size, total

    def __call__(self, fraction: float, text: str) -> None:
        if self.progress:
            self.progress(self.base + fraction * self.size, self.total, text)


class _UnitSaver:
    """Saves a batch's finished units into the store's checkpoint folder."""

    def __init__(self, store: OutcomeStore, start: int) -> None:
        self.store, self.start = store, start

    def __call__(self, unit: int, arrays: Chunk) -> None:
        self.store.save_unit(self.start, unit, arrays)
