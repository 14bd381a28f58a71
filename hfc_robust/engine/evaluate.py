"""The engine: a resolved run spec's cells over a dataset, batch by batch (:func:`evaluate`).

Users call :func:`hfc_robust.benchmark` (or ``hfc-robust bench``/``corruptions``), which go through
:func:`hfc_robust.runs.run.run_spec`; ``evaluate`` is what it, the Ray workers and the checks run
underneath, for both kinds of spec: the same batch loop, checkpoint and keys, with the kind's grid
and :class:`~hfc_robust.engine.loop.BatchEvaluator` (:class:`~hfc_robust.engine.attack_batch.AttackBatches`,
:class:`~hfc_robust.engine.corruption_batch.CorruptionBatches`).

Every row's per-example outcomes are a function of (the row's own settings, the batch) alone:
a row is identical whether it runs alone or inside any larger grid. Inside a batch of an attack
grid the engine shares only work that provably changes no outcome:

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from .. import ENGINE_VERSION
from ..corruptions.registry import CORRUPTIONS_VERSION
from ..data.dataset import Dataset
from ..defenses.spec import DefenseSpec
from ..errors import HfcError
from ..models.custom import state_dict_sha256
from ..models.zoo import LoadedModel, check_input_shape
from ..ops.modes import eval_mode
from ..runtime.devices import on_device, run_device
from ..spec import BenchSpec, CorruptionSpec, RunSpec
from .attack_batch import AttackBatches
from .attack_result import AttackResult, attack_seconds
from .checkpoint import OutcomeStore
from .corruption_batch import CorruptionBatches
from .corruption_result import CorruptionResult
from .grid import AttackGrid, CorruptionGrid, defense_modules
from .inference import probe_classes
from .loop import Progress, run_batches
from .result import EngineResult

__all__ = ["evaluate", "assemble", "EngineModel", "engine_model", "checkpoint_key", "run_key", "model_identity"]


@dataclass(frozen=True)
class EngineModel:
    """What the engine evaluates: the bare ``module`` on ``device``, the identity of its weights
    (``sha256``: a registry model's file SHA-256, else the state_dict's), the number of classes it
    scores, and a registry model's ``loaded`` record (its weights' path, for provenance)."""

    module: nn.Module
    device: torch.device
    sha256: str
    num_classes: int
    loaded: LoadedModel | None = None


def model_identity(model: LoadedModel | nn.Module) -> str:
    """What identifies the weights in a checkpoint key: a registry model's file SHA-256, else the state_dict's."""
    return str(model.sha256) if isinstance(model, LoadedModel) else state_dict_sha256(model)


def engine_model(
    model: LoadedModel | nn.Module,
    dataset: Dataset,
    device: str | torch.device | None = "cpu",
    num_classes: int | None = None,
) -> EngineModel:
    """Check the model (an ``nn.Module``; a registry model's input shape against the images'), put
    it on the run's device (the caller's module itself when it is there, else a copy) and probe it
    once for its classes (:func:`~hfc_robust.engine.inference.probe_classes`), unless the caller
    already did (``num_classes``)."""
    loaded = model if isinstance(model, LoadedModel) else None
    bare = loaded.module if loaded else model
    if not isinstance(bare, nn.Module):
        raise HfcError(
            f"model must be a torch.nn.Module, got {type(bare).__name__}", "pass an nn.Module taking [0, 1] pixels"
        )
    if loaded is not None:
        check_input_shape(loaded.name, loaded.spec.input_shape, dataset.shape, f"dataset {dataset.name}")
    target = run_device(device, bare if loaded is None else None)
    bare = on_device(bare, target)
    if num_classes is None:
        num_classes = probe_classes(bare, dataset, f"model {loaded.name}" if loaded else "the model", target)
    return EngineModel(bare, target, model_identity(model), num_classes, loaded)


def _rows(rows: tuple[int, int] | None, size: int, batch_size: int) -> tuple[int, int]:
    first, stop = rows if rows is not None else (0, size)
    if first % batch_size or not 0 <= first <= stop <= size:
        raise HfcError(
            f"rows {first}..{stop} do not start on a batch boundary inside the {size} images",
            f"start shards at multiples of the batch size ({batch_size})",
        )
    return first, stop


def _grid(
    spec: RunSpec, dataset_name: str, defenses: list[DefenseSpec], model: EngineModel | None
) -> AttackGrid | CorruptionGrid:
    """The kind's grid; with ``model``, with the module each defense's rows are scored on."""
    modules = defense_modules(model.module, defenses, model.device) if model else {}
    device = model.device if model else torch.device("cpu")
    if isinstance(spec, BenchSpec):
        bpda = defense_modules(model.module, defenses, model.device, bpda=True) if model else {}
        return AttackGrid(spec, dataset_name, defenses, modules, bpda, model.num_classes if model else 0, device)
    if isinstance(spec, CorruptionSpec):
        return CorruptionGrid(spec, dataset_name, defenses, modules, device)
    raise HfcError(f"cannot evaluate a {type(spec).__name__}", "pass a BenchSpec or a CorruptionSpec")


def _result(
    grid: AttackGrid | CorruptionGrid,
    store: OutcomeStore,
    provenance: dict,
    resumed: int,
    extra_defenses: tuple[DefenseSpec, ...],
) -> EngineResult:
    if isinstance(grid, AttackGrid):
        return AttackResult(
            grid.spec,
            grid,
            store,
            {**provenance, "attack_seconds": attack_seconds(grid, store)},
            resumed,
            extra_defenses,
        )
    return CorruptionResult(grid.spec, grid, store, provenance, resumed)


def checkpoint_key(
    spec: RunSpec, model_id: str, dataset: Dataset, defenses: Sequence[DefenseSpec], first: int, stop: int
) -> str:
    """The key of a run's checkpoint chunks: they are only reused for the same spec, the same code
    (engine, and for corruptions their version), the same weights, the same images and the same rows."""
    code = f"corruptions{CORRUPTIONS_VERSION}:" if isinstance(spec, CorruptionSpec) else ""
    return (
        f"{code}engine{ENGINE_VERSION}:{spec.fingerprint()}:{model_id}:{dataset.fingerprint()}:"
        f"{[d.key for d in defenses]}:{first}-{stop}"
    )


def run_key(
    spec: RunSpec,
    model: LoadedModel | nn.Module,
    dataset: Dataset,
    extra_defenses: Sequence[DefenseSpec] = (),
    rows: tuple[int, int] | None = None,
) -> str:
    """The checkpoint key :func:`evaluate` uses for these arguments. A driver that writes every
    chunk of a run into a folder under this key (e.g. from other processes' shards) and then calls
    ``evaluate(..., checkpoint=folder)`` gets the table without evaluating anything."""
    dataset = dataset.take(spec.n)
    first, stop = rows if rows is not None else (0, len(dataset))
    return checkpoint_key(spec, model_identity(model), dataset, spec.defenses() + list(extra_defenses), first, stop)


def evaluate(
    spec: RunSpec,
    model: EngineModel | LoadedModel | nn.Module,
    dataset: Dataset,
    *,
    extra_defenses: Sequence[DefenseSpec] = (),
    progress: Progress | None = None,
    checkpoint: str | None = None,
    device: str | torch.device | None = "cpu",
    rows: tuple[int, int] | None = None,
    notify: Callable[[str], None] | None = None,
) -> EngineResult:
    """Evaluate a resolved spec's grid (no checks, no files but the checkpoint).

    Args:
        spec: a :class:`~hfc_robust.spec.BenchSpec` (its eps resolved, :meth:`~hfc_robust.spec.BenchSpec.resolved`)
            or a :class:`~hfc_robust.spec.CorruptionSpec`.
        model: an :class:`EngineModel` (placed and probed by the caller), or a ``LoadedModel`` or
            bare module taking [0, 1] pixels, placed on ``device`` and probed here.
        dataset: the images (its first ``spec.n``).
        extra_defenses: more :class:`DefenseSpec` entries (e.g. custom input transforms).
        progress: called as ``progress(done, total, text)`` (done in images, fractional inside a batch).
        checkpoint: a folder where each finished batch is appended; a run with the same spec,
            weights and images resumes from it, so finished work is never lost.
        device: ``cpu`` (default), ``cuda``, ``cuda:N``, ``mps`` or ``auto``, for a model that is not
            an :class:`EngineModel`. The caller's model never changes device, mode, parameters or
            ``requires_grad``.
        rows: ``(first, stop)`` positions in the dataset to evaluate (a shard); ``first`` must
            be a multiple of the batch size so that every batch is the one a full run makes.
        notify: called with one-line messages (e.g. that the run resumed).
    """
    started = time.time()
    dataset = dataset.take(spec.n)
    engine = model if isinstance(model, EngineModel) else engine_model(model, dataset, device)
    first, stop = _rows(rows, len(dataset), spec.batch_size)
    defenses = spec.defenses() + list(extra_defenses)
    with eval_mode(engine.module):
        store = OutcomeStore(checkpoint, checkpoint_key(spec, engine.sha256, dataset, defenses, first, stop))
        grid = _grid(spec, dataset.name, defenses, engine)
        evaluator = AttackBatches(grid) if isinstance(grid, AttackGrid) else CorruptionBatches(grid)
        resumed = run_batches(evaluator, dataset, store, first, stop, spec.batch_size, engine.device, progress, notify)
    provenance = {
        "wall_time_s": round(time.time() - started, 3),
        "device": str(engine.device),
        "model_sha256": engine.sha256,
        "num_classes": engine.num_classes,
    }
    if engine.loaded is not None:
        provenance["weights"] = engine.loaded.weights
    return _result(grid, store, provenance, resumed, tuple(extra_defenses))


def assemble(
    spec: RunSpec, dataset_name: str, store: OutcomeStore, extra_defenses: Sequence[DefenseSpec] = ()
) -> EngineResult:
    """A result from finished chunks alone (no model, no images): the same table and per-example
    records :func:`evaluate` writes, e.g. for shards merged by ``hfc-robust merge``."""
    defenses = spec.defenses() + list(extra_defenses)
    return _result(_grid(spec, dataset_name, defenses, None), store, {}, 0, tuple(extra_defenses))
