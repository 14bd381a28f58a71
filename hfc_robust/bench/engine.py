"""The benchmark engine: runs a grid's cells over a dataset, batch by batch (:func:`run_grid`).

Users call :func:`hfc_robust.benchmark` (or ``hfc-robust bench``), which go through
:func:`hfc_robust.bench.api.bench_run`; ``run_grid`` is what ``bench_run``, the Ray workers
and the checks run underneath.

Every row's per-example outcomes are a function of (the row's own settings, the batch) alone:
a row is identical whether it runs alone or inside any larger grid. Inside a batch
(:class:`~hfc_robust.bench.batch.BatchEvaluation`) the engine shares only work that provably
changes no outcome:

* clean predictions are computed once per defended model (``torch.inference_mode``);
* an attack is crafted once per eps against the bare model, on the examples the bare model
  classifies correctly: this one run scores the white-box row (broken if any iterate fooled the
  model) and, when the grid has oblivious rows, runs for its whole budget (no early stop) so
  that its candidates can be transferred to every defense's oblivious row;
* examples misclassified clean are not attacked (they are not robust);
* attacks on the model they are scored on (white-box, adaptive) may stop early per example
  at their first success, which changes no success.

Each eps is attacked independently: an example broken at a smaller eps is attacked again
at a larger one (a ladder across eps would make a row depend on the other eps in the grid).
``tests/test_harness.py`` and ``tests/test_grid.py`` check the engine against independent naive loops.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn as nn

from ..attacks.base import eval_mode
from ..data.dataset import ImageDataset
from ..data.datasets import load_dataset
from ..defenses.spec import DefenseSpec
from ..errors import HfcError, HfcWarning
from ..models.custom import state_dict_sha256
from ..models.zoo import LoadedModel, check_input_shape, load_model
from .batch import BatchEvaluation
from .checkpoint import OutcomeStore
from .config import BenchConfig, with_default_eps
from .devices import on_device, run_device
from .grid import Grid, defense_modules
from .inference import num_outputs
from .provenance import engine_version
from .result import BenchResult, attack_seconds, build_table, gradient_totals

__all__ = ["run_grid", "run_batches", "engine_inputs", "EngineInputs", "BatchEvaluator", "GridBatches", "checkpoint_key", "run_key", "model_identity",
           "assemble"]

Progress = Callable[..., None]
DEVICE_ARRAY = "device_type"  # in every chunk: where its outcomes were computed


@dataclass
class EngineInputs:
    """What every engine run checks first: the bare model on the run's device, the rows to
    evaluate, and the number of classes the model scores."""

    bare: nn.Module
    target: torch.device
    first: int
    stop: int
    outputs: int


def engine_inputs(model: LoadedModel | nn.Module, dataset: ImageDataset, rows: tuple[int, int] | None, batch_size: int,
                  device: str | torch.device | None) -> EngineInputs:
    """Check the model (an ``nn.Module``; a registry model's input shape against the images'), the
    rows (a shard starts on a batch boundary) and the labels against the model's outputs; put the
    model on the run's device (the caller's module itself when it is there, else a copy)."""
    loaded = model if isinstance(model, LoadedModel) else None
    bare = loaded.module if loaded else model
    if not isinstance(bare, nn.Module):
        raise HfcError(f"model must be a torch.nn.Module, got {type(bare).__name__}", "pass an nn.Module taking [0, 1] pixels")
    if loaded is not None:
        check_input_shape(loaded.name, loaded.spec.input_shape, dataset.shape, f"dataset {dataset.name}")
    first, stop = rows if rows is not None else (0, len(dataset))
    if first % batch_size or not 0 <= first <= stop <= len(dataset):
        raise HfcError(f"rows {first}..{stop} do not start on a batch boundary inside the {len(dataset)} images",
                       f"start shards at multiples of the batch size ({batch_size})")
    target = run_device(device, bare if loaded is None else None)
    bare = on_device(bare, target)
    with eval_mode(bare):
        outputs = num_outputs(bare, next(dataset.batches(1))[1].to(target))
    if int(dataset.labels.max()) >= outputs:
        raise HfcError(f"dataset {dataset.name} has label {int(dataset.labels.max())} but the model has {outputs} "
                       "outputs", "choose a model trained for this dataset")
    return EngineInputs(bare, target, first, stop, outputs)


def run_grid(config: BenchConfig | None = None, *, model: LoadedModel | nn.Module | None = None,
             dataset: ImageDataset | None = None, extra_defenses: Sequence[DefenseSpec] = (),
             progress: Progress | None = None, checkpoint: str | None = None, device: str | torch.device | None = "cpu",
             rows: tuple[int, int] | None = None, notify: Callable[[str], None] | None = None,
             **overrides) -> BenchResult:
    """Run a bench grid (no checks, no files but the checkpoint): the engine under ``bench_run``.

    Args:
        config: a :class:`BenchConfig`; keyword ``overrides`` replace its fields.
        model: an already loaded model (``LoadedModel`` or a bare module taking [0, 1] pixels);
            default: the registry model ``config.model``.
        dataset: an already loaded :class:`ImageDataset` (or any object with its interface).
        extra_defenses: more :class:`DefenseSpec` entries (e.g. custom input transforms).
        progress: called as ``progress(done, total, text)`` (done in images, fractional
            inside a batch) while the grid runs.
        checkpoint: a folder where each finished batch is appended; a run with the same
            configuration, weights and images resumes from it, so finished work is never lost.
        device: ``cpu`` (default), ``cuda``, ``cuda:N``, ``mps`` or ``auto`` (an ``nn.Module``'s own
            device, else the best one present). The model is evaluated in place when it is already
            there, else as a copy on that device: the caller's model never changes device, mode,
            parameters or ``requires_grad``.
        rows: ``(first, stop)`` positions in the dataset to evaluate (a shard); ``first`` must
            be a multiple of the batch size so that every batch is the one a full run makes.
        notify: called with one-line messages (e.g. that the run resumed).
    """
    config = BenchConfig(**{**(config.to_dict() if config else {}), **overrides})
    start_time = time.time()
    dataset = load_dataset(config.dataset, config.n, config.data_dir) if dataset is None else dataset.take(config.n)
    config = with_default_eps(config, dataset.shape)
    if model is None:
        model = load_model(config.model, config.weights, num_classes=dataset.num_classes, progress=False)
    engine = engine_inputs(model, dataset, rows, config.batch_size, device)
    bare, target, first, stop = engine.bare, engine.target, engine.first, engine.stop
    defenses = config.defenses() + list(extra_defenses)
    with eval_mode(bare):
        store = OutcomeStore(checkpoint, checkpoint_key(config, model_identity(model), dataset, defenses, first, stop))
        grid = Grid(config, dataset.name, defenses, defense_modules(bare, defenses, target),
                    defense_modules(bare, defenses, target, bpda=True), engine.outputs, target)
        resumed = run_batches(GridBatches(grid), dataset, store, first, stop, grid.config.batch_size, grid.device,
                              progress, notify)

    provenance = {"wall_time_s": round(time.time() - start_time, 3), "device": str(target),
                  "model_sha256": model_identity(model), "attack_seconds": attack_seconds(grid, store),
                  "num_classes": engine.outputs}
    if isinstance(model, LoadedModel):
        provenance["weights"] = model.weights
    return BenchResult(build_table(grid, store), gradient_totals(grid, store), config, grid.cells, defenses, store,
                       provenance, tuple(extra_defenses), resumed, grid.modules)


class BatchEvaluator(Protocol):
    """What :func:`run_batches` evaluates: one batch's chunk (per-example arrays) from its indices,
    [0, 1] images and labels (on the run's device), a progress ``step(fraction, text)``, the units
    an interrupted run saved for this batch, and a ``save_unit(unit, arrays)`` callback."""

    def __call__(self, indices: torch.Tensor, images: torch.Tensor, labels: torch.Tensor, step: Callable,
                 saved_units: dict, save_unit: Callable) -> dict: ...


class GridBatches:
    """The bench grid's :class:`BatchEvaluator`: every cell of the grid on one batch."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid

    def __call__(self, indices, images, labels, step, saved_units, save_unit) -> dict:
        return BatchEvaluation(self.grid, indices, images, labels, step, saved_units, save_unit).run()


def run_batches(evaluate: BatchEvaluator, dataset: ImageDataset, store: OutcomeStore, first: int, stop: int,
                batch_size: int, device: torch.device, progress: Progress | None = None,
                notify: Callable[[str], None] | None = None) -> int:
    """Evaluate the batches of rows ``first..stop`` that are not yet in ``store``, appending each
    finished batch's chunk (the checkpoint); returns the rows that were already there (resumed).
    Shared by every command that streams a dataset through the engine."""
    done = store.done_rows(first)
    total = stop - first
    if 0 < done < total and _computed_on(store, first) != device.type:
        # a CPU and a GPU can differ by float noise: one table is never assembled from both
        warnings.warn(f"the checkpoint in {store.folder} was computed on {_computed_on(store, first)}, this run uses "
                      f"{device.type}; starting again", HfcWarning, stacklevel=2)
        store.clear()
        done = 0
    resumed = done
    if done and notify:
        notify(f"resuming from {done} of {total} images (finished batches in {store.folder})")
    if progress:
        progress(done, total, None)
    for indices, images, labels in dataset.batches(batch_size, start=first + done, stop=stop):
        start = first + done
        chunk = evaluate(indices, images.to(device), labels.to(device), _BatchProgress(progress, done, len(labels), total),
                         store.units(start), _UnitSaver(store, start))
        store.append(start, {**chunk, DEVICE_ARRAY: np.array(device.type)})
        store.drop_units(start)
        done += len(labels)
        if progress:
            progress(done, total, None)
    return resumed


def _computed_on(store: OutcomeStore, first: int) -> str | None:
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

    def __call__(self, unit: int, arrays: dict) -> None:
        self.store.save_unit(self.start, unit, arrays)


def model_identity(model: LoadedModel | nn.Module) -> str:
    """What identifies the weights in a checkpoint key: a registry model's file SHA-256, else the state_dict's."""
    return model.sha256 if isinstance(model, LoadedModel) else state_dict_sha256(model)


def checkpoint_key(config: BenchConfig, model_id: str, dataset: ImageDataset, defenses: Sequence[DefenseSpec],
                   first: int, stop: int) -> str:
    """The key of a run's checkpoint chunks: they are only reused for the same grid, the same
    weights, the same images and the same rows."""
    return (f"engine{engine_version()}:{config.fingerprint()}:{model_id}:{dataset.fingerprint()}:"
            f"{[d.key for d in defenses]}:{first}-{stop}")


def run_key(config: BenchConfig, model: LoadedModel | nn.Module, dataset: ImageDataset,
            extra_defenses: Sequence[DefenseSpec] = (), rows: tuple[int, int] | None = None) -> str:
    """The checkpoint key :func:`run_grid` uses for these arguments. A driver that writes every
    chunk of a run into a folder under this key (e.g. from other processes' shards) and then calls
    ``run_grid(..., checkpoint=folder)`` gets the table without attacking anything."""
    config = BenchConfig(**config.to_dict())
    dataset = dataset.take(config.n)
    config = with_default_eps(config, dataset.shape)
    first, stop = rows if rows is not None else (0, len(dataset))
    return checkpoint_key(config, model_identity(model), dataset, config.defenses() + list(extra_defenses), first, stop)


def assemble(config: BenchConfig, dataset_name: str, store: OutcomeStore,
             extra_defenses: Sequence[DefenseSpec] = ()) -> BenchResult:
    """A :class:`BenchResult` from finished chunks alone (no model, no images): the same table
    and per-example records :func:`run_grid` writes, e.g. for shards merged by ``hfc-robust merge``."""
    defenses = config.defenses() + list(extra_defenses)
    grid = Grid(config, dataset_name, defenses)
    return BenchResult(build_table(grid, store), gradient_totals(grid, store), config, grid.cells, defenses, store,
                       {"attack_seconds": attack_seconds(grid, store)}, tuple(extra_defenses))
