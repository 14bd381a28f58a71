"""One call that does what ``hfc-robust bench`` does: load, check the input, run, check, write.

:func:`bench_run` takes registry names (``config.model``, ``config.dataset``) or an
already-built model and dataset; ``hfc_robust.benchmark`` and the CLI both use it, so a
Python run and a command-line run write the same run folder.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
import torch.nn as nn

from ..attacks.base import eval_mode
from ..attacks.defaults import cascade_budgets
from ..attacks.registry import ATTACKS
from ..data.adapters import as_dataset
from ..errors import HfcError, HfcWarning
from ..models.custom import PY_PREFIX, ModuleModel, describe_module, load_factory_model
from ..models.zoo import LoadedModel, load_model
from ..ops.frequency import frequency_mask
from ..results.io import write_run
from .checkpoint import OutcomeStore
from .checks import Check, checks_failed, convergence_check, run_checks, unbounded_check
from .config import BenchConfig
from .engine import run_grid, run_key
from .runfolder import check_out_folder, remove_stale_files
from .paths import portable_dataset, portable_path
from .provenance import device_record, index_ranges, provenance
from .shards import shard_rows
from .spotcheck import spot_check

__all__ = ["BenchRun", "bench_run", "as_model", "corner_distance", "load_data", "load_config_model", "PARTIAL_DIR",
           "OUTCOMES_DIR"]

PARTIAL_DIR = ".partial"  # the checkpoint folder inside a run directory
OUTCOMES_DIR = "outcomes"  # a shard's finished chunks, kept for `hfc-robust merge`


@dataclass
class BenchRun:
    """A finished run: the table, the sanity checks, run.json's record and the files written."""

    table: pd.DataFrame
    checks: list[Check]
    run: dict
    out: Path | None
    files: list[Path] = field(default_factory=list)  # everything written into ``out``
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return checks_failed(self.checks)

    @property
    def dataset_name(self) -> str:
        return str(self.run["dataset"]["name"])

    @property
    def n(self) -> int:
        return int(self.run["dataset"]["n"])


def as_model(model, name: str | None = None) -> LoadedModel | ModuleModel:
    """A registry model, a ``py:`` factory, or any ``nn.Module`` as something :func:`bench_run` runs.

    ``name`` labels the rows; an ``nn.Module`` without one is labelled with its class name.
    """
    if isinstance(model, (LoadedModel, ModuleModel)):
        return model
    if isinstance(model, nn.Module):
        label = name or type(model).__name__
        if "/" in label:  # the name is a part of every cell key, which "/" separates
            raise HfcError(f"model name {label!r} contains '/'", "choose a name without '/'")
        return ModuleModel(label, model, "python")
    if isinstance(model, str):
        return load_factory_model(model) if model.startswith(PY_PREFIX) else load_model(model)
    raise HfcError(f"cannot benchmark a {type(model).__name__} as a model",
                   "pass an nn.Module taking pixels in [0, 1], or a registry name such as fmnist-cnn")


def corner_distance(shape: tuple[int, ...]) -> float:
    """sqrt((H//2)^2 + (W//2)^2) for H x W images, in frequency bins: the distance of the farthest
    bin from the centre (H//2, W//2). A radius at or beyond it (mask distance <= r), or beyond it
    (distance < r), keeps every bin, so the low-pass filter is the identity."""
    height, width = shape[-2], shape[-1]
    return math.hypot(height // 2, width // 2)


def _probe(module: nn.Module, dataset, what: str) -> int:
    """Run ``module`` on one image; the number of classes it predicts. HfcError, one line, when it
    fails or does not return N x classes scores covering the labels."""
    sample = dataset.to_float(dataset.images[:1])
    try:
        with eval_mode(module), torch.inference_mode():
            output = module(sample)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise HfcError(f"{what} failed on a batch of shape {tuple(sample.shape)} from {dataset.name} "
                       f"({type(exc).__name__}: {first[:160]})", "give images of the shape the model takes, "
                       "as N x C x H x W floats in [0, 1]") from None
    if not isinstance(output, torch.Tensor) or output.dim() != 2 or output.shape[0] != 1:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise HfcError(f"{what} returned {shape} for one image, expected 1 x classes scores",
                       "return logits of shape N x classes")
    classes = int(output.shape[1])
    top = int(dataset.labels.max())
    if top >= classes:
        raise HfcError(f"dataset {dataset.name} has label {top} but {what} has {classes} outputs",
                       "choose a model trained for this dataset")
    return classes


def _check_grid(config: BenchConfig, shape: tuple[int, ...]) -> list[str]:
    """HfcError for a grid that cannot produce rows; warnings for settings that do nothing."""
    notes = []
    bpda = [a for a in config.attacks if ATTACKS[a].bpda]
    if bpda and not config.radii:
        if len(bpda) == len(config.attacks):
            raise HfcError(f"{', '.join(bpda)} only attacks an input-transform defense and the grid has none, so "
                           "there would be no attacked rows", "add a low-pass radius (--radius 8, or radii=(8,) in Python) or another attack")
        notes.append(f"{', '.join(bpda)} runs only through an input low-pass filter; without --radius it adds no rows")
    corner = corner_distance(shape)
    for radius in config.radii:
        # Ask the mask itself: its float64 distances may differ from `corner` in the last bit.
        if bool(frequency_mask(shape[-2], shape[-1], radius, inclusive=config.inclusive).all()):
            notes.append(f"radius {radius:g} is at or beyond the corner distance {corner:.2f} of "
                         f"{shape[-2]}x{shape[-1]} images, so the low-pass filter keeps every frequency (the identity)")
    return notes


def _write_extra(result, out: Path) -> list[Path]:
    """perturbation_spectra.npz/.png, and with ``min_eps`` min_eps.csv and min_eps_curve.png."""
    from ..results.mineps import write_min_eps
    from ..results.spectra import write_spectra
    from .mineps import min_eps_limit

    config = result.config
    title = f"{result.table['model'].iloc[0]} on {result.table['dataset'].iloc[0]}: perturbation spectra"
    files = write_spectra(result.spectra(), out, title)
    per_example = result.min_eps()
    if per_example is not None:
        files += write_min_eps(per_example, result.table, min_eps_limit(config.eps, config.min_eps_max), out)
    return files


def bench_run(config: dict | BenchConfig, out: Path | str | None = None, progress=None, check_convergence: bool = False,
              check_unbounded: bool = False, started: float | None = None, command: list[str] | None = None, *,
              model=None, dataset=None, name: str | None = None, image_size: int | None = None,
              import_root: str | None = None, clamp_n: bool = False, overwrite: bool = False,
              run_extra: dict | None = None, device: str | None = "cpu", notify=None, executor=None,
              shard: tuple[int, int] | None = None) -> BenchRun:
    """Run a bench grid with sanity checks; write the run directory when ``out`` is given.

    Args:
        config: the grid. ``config.model``/``config.dataset`` are registry names (or
            ``py:module:factory`` / ``imagefolder:PATH``) used when ``model``/``dataset`` are not given.
        model: an ``nn.Module`` on [0, 1] pixels (rows are labelled ``name`` or its class name),
            a ``LoadedModel`` or a registry name.
        dataset: anything :func:`hfc_robust.data.adapters.as_dataset` accepts.
        image_size: pixels, for ``imagefolder:`` data (resize and centre-crop).
        import_root: a folder to import a ``py:`` model's module from (rerun).
        clamp_n: ``config.n`` is a default, cut to the data's size; otherwise ``n`` beyond the
            data is an HfcError.
        overwrite: replace a different run already in ``out``.
        run_extra: more entries for run.json (e.g. the thread count).
        device: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``.
        notify: called with one-line messages (e.g. that the run resumed).
        executor: runs the grid's shards elsewhere, e.g. ``hfc_robust.bench.executors.RayExecutor``
            (its ``run(job, store, n, progress, notify)`` puts every chunk of the run into ``store``).
        shard: ``(I, N)``: evaluate only shard I of N (contiguous whole batches); the run folder
            keeps its chunks in ``outcomes/`` for :func:`hfc_robust.bench.merge.merge_shards`.

    Every finished batch is appended to ``out/.partial/`` so that an interrupted run resumes
    where it stopped when the same command is run again; the folder is removed once the
    results are written. Nothing is written before the model, the data and the grid have been
    checked.
    """
    started = started if started is not None else time.time()
    config = config if isinstance(config, BenchConfig) else BenchConfig(**config)
    if executor is not None and shard is not None:
        raise HfcError("--shard and --executor ray both split the run", "use one of them")
    user_data = dataset is not None
    if dataset is None:
        data = load_data(config, image_size)
    else:
        data = as_dataset(dataset, name=None)
    if config.n is not None and config.n > len(data):
        if not clamp_n:
            raise HfcError(f"n = {config.n} is more than the {len(data)} images of {data.name}",
                           f"pass n = {len(data)} or fewer (--n all for every image)")
        config = dataclasses.replace(config, n=len(data))
    data = data.take(config.n)
    rows = shard_rows(len(data), config.batch_size, shard) if shard is not None else None
    data.fingerprint()  # the sample's identity; reading it also finds unreadable or odd-sized images up front

    if model is None:
        loaded = load_config_model(config, data, import_root)
    else:
        loaded = as_model(model, name)
    module = loaded.module
    classes = _probe(module, data, describe_module(module) if isinstance(loaded, ModuleModel) else f"model {loaded.name}")
    if user_data and classes > data.num_classes:
        # tensors carry no class count: the model's outputs are the classes (chance = 1/classes)
        data = copy.copy(data)
        data.num_classes = classes
    config = dataclasses.replace(config, model=loaded.name, dataset=config.dataset if not user_data else data.name,
                                 weights=config.weights if model is None else loaded.weights)
    notes = _check_grid(config, data.shape)
    for note in notes:
        warnings.warn(note, HfcWarning, stacklevel=2)

    base = Path(out) if out is not None else Path.cwd()
    recorded_config = {**config.to_dict(), "dataset": portable_dataset(config.dataset, base),
                       "weights": portable_path(config.weights, base), "data_dir": portable_path(config.data_dir, base)}
    checkpoint = None
    if out is not None:
        out = Path(out)
        # compared as run.json holds it (JSON lists, not tuples)
        identity = json.loads(json.dumps({"config": recorded_config, "model sha256": loaded.sha256,
                                          "dataset sha256": data.fingerprint()}, default=str))
        check_out_folder(out, identity, overwrite)
        out.mkdir(parents=True, exist_ok=True)
        checkpoint = str(out / PARTIAL_DIR)
    engine_model = loaded if isinstance(loaded, LoadedModel) else module
    run_extra = dict(run_extra or {})
    scratch = None
    if executor is not None:
        if checkpoint is None:  # the shards' chunks need a folder even when no run folder is written
            scratch = checkpoint = tempfile.mkdtemp(prefix="hfc-robust-")
        job = dict(config=config.to_dict(), model=None if model is None else engine_model,
                   dataset=data if user_data else None, image_size=image_size, import_root=import_root,
                   device=device, key=run_key(config, engine_model, data))
        run_extra["executor"] = executor.run(job, OutcomeStore(checkpoint, job["key"]), len(data), progress, notify)
        device = executor.driver_device(device)  # the driver only assembles the table and runs the spot check
    try:
        result = run_grid(config, model=engine_model, dataset=data, progress=progress, checkpoint=checkpoint,
                           device=device, notify=notify, rows=rows)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    extra = []
    if check_convergence:
        extra.append(convergence_check(result, engine_model, data))
    if check_unbounded:
        extra.append(unbounded_check(result, engine_model, data))
    if shard is not None:
        extra.append(Check("strong-attack-spot-check", "skipped",
                           "not run on a shard: `hfc-robust merge` runs it on the merged run"))
    else:
        extra.append(spot_check(result, result.modules, data, config.spot_check, result.provenance["device"],
                                (lambda text: progress(None, None, text)) if progress else None))
    checks = run_checks(result.table, result.gradient_checks, extra, outcomes=result.outcomes)
    dataset_extra = {"image_size": image_size} if image_size else {}
    run = provenance(recorded_config, data, loaded, time.time() - started, command, base=base,
                     extra={"gradient_checks": result.gradient_checks,
                            "attack_budgets": attack_budgets(config.attacks, result.provenance.get("num_classes", classes)),
                            "attack_seconds": result.provenance.get("attack_seconds", {}),
                            "checks": {c.name: c.status for c in checks},
                            "cells": list(result.table["cell"]), "warnings": notes,
                            "device": device_record(result.provenance["device"]), **run_extra})
    run["dataset"].update(dataset_extra, origin="python" if user_data else "registry")
    if rows is not None:
        run["shard"] = shard_record(shard, rows, run["dataset"])
        first, stop = rows
        run["dataset"].update(n=stop - first, indices=index_ranges(data.indices[first:stop].tolist()),
                              sample=f"shard {shard[0]}/{shard[1]}: positions {first}..{stop - 1} of the "
                                     f"{run['dataset']['sample']}")
    files: list[Path] = []
    if out is not None:
        files = write_run(out, result.table, run, result.example_frames(), checks)
        from ..results.plots import write_plots  # matplotlib is imported only when a run directory is written

        files += write_plots(result.table, out)
        files += _write_extra(result, out)
        remove_stale_files(out, files)
        if rows is not None:  # a shard keeps its chunks for `hfc-robust merge`
            shutil.rmtree(out / OUTCOMES_DIR, ignore_errors=True)
            os.replace(out / PARTIAL_DIR, out / OUTCOMES_DIR)
        else:
            result.store.remove()  # only now: the results it held are on disk
    return BenchRun(result.table, checks, run, out, files, notes)


def attack_budgets(attacks, num_classes: int) -> dict:
    """run.json's ``attack_budgets``: each stage's budget of the grid's cascade attacks (``autoattack``
    always the standard). Their wall times are ``attack_seconds``, per row."""
    return {name: budgets for name in attacks if (budgets := cascade_budgets(name, num_classes)) is not None}


def shard_record(shard: tuple[int, int], rows: tuple[int, int], dataset_record: dict) -> dict:
    """run.json's ``shard``: which shard, its rows, and the whole sample it is a part of."""
    index, count = shard
    first, stop = rows
    return {"index": index, "count": count, "rows": [first, stop], "n": stop - first,
            "of_n": dataset_record["n"], "of_indices": dataset_record["indices"], "of_sample": dataset_record["sample"],
            "outcomes": OUTCOMES_DIR}


def load_data(config: BenchConfig, image_size: int | None = None):
    """The dataset ``config.dataset`` names (registry name, ``npz:``, ``imagefolder:``), all of it."""
    return as_dataset(config.dataset, image_size=image_size, data_dir=config.data_dir)


def load_config_model(config: BenchConfig, data, import_root: str | Path | None = None) -> LoadedModel | ModuleModel:
    """The model ``config.model`` names (registry name or ``py:module:factory``) with ``config.weights``."""
    if config.model.startswith(PY_PREFIX):
        return load_factory_model(config.model, config.weights, Path(import_root) if import_root else None)
    return load_model(config.model, config.weights, num_classes=data.num_classes, input_shape=data.shape)
