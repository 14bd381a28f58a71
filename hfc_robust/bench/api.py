"""One call that does what ``hfc-robust bench`` does: load, check the input, run, check, write.

:func:`bench_run` takes registry names (``config.model``, ``config.dataset``) or an
already-built model and dataset; ``hfc_robust.benchmark`` and the CLI both use it, so a
Python run and a command-line run write the same run folder.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..attacks.defaults import cascade_budgets
from ..attacks.registry import ATTACKS
from ..errors import HfcError, HfcWarning
from ..ops.frequency import frequency_mask
from ..results.io import write_run
from .checks import Check, checks_failed, convergence_check, run_checks, unbounded_check
from .config import BenchConfig, with_default_eps
from .devices import deterministic_mode, device_line, module_device
from .engine import run_grid, run_key
from .jobs import GridJob, ShippedModel, local_modules
from .prepare import (OUTCOMES_DIR, check_single_split, recorded_config, PARTIAL_DIR, as_model, finish_run_folder, load_config_model, load_data, load_inputs,
                      record_shard, start_run)
from .provenance import device_record, provenance
from .shards import shard_rows
from .spotcheck import spot_check

__all__ = ["BenchRun", "bench_run", "as_model", "corner_distance", "load_data", "load_config_model", "PARTIAL_DIR",
           "OUTCOMES_DIR"]


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
        """A check contradicts the run (exit 3): see :func:`~hfc_robust.bench.checks.checks_failed`."""
        return checks_failed(self.checks)

    @property
    def warned(self) -> bool:
        """A check warns (``--strict`` exits 3 then too)."""
        return any(check.status == "warn" for check in self.checks)

    @property
    def dataset_name(self) -> str:
        return str(self.run["dataset"]["name"])

    @property
    def n(self) -> int:
        return int(self.run["dataset"]["n"])


def corner_distance(shape: tuple[int, ...]) -> float:
    """sqrt((H//2)^2 + (W//2)^2) for H x W images, in frequency bins: the distance of the farthest
    bin from the centre (H//2, W//2). A radius at or beyond it (mask distance <= r), or beyond it
    (distance < r), keeps every bin, so the low-pass filter is the identity."""
    height, width = shape[-2], shape[-1]
    return math.hypot(height // 2, width // 2)


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

    config = result.config
    title = (f"{result.table['model'].iloc[0]} on {result.table['dataset'].iloc[0]}: perturbation spectra, "
             f"{config.norm.label} threat model")
    files = write_spectra(result.spectra(), out, title)
    per_example = result.min_eps()
    if per_example is not None:
        files += write_min_eps(per_example, result.table, config.norm.min_eps_limit(config.eps, config.min_eps_max), out)
    return files


def bench_run(config: dict | BenchConfig, out: Path | str | None = None, progress=None, check_convergence: bool = False,
              check_unbounded: bool = False, started: float | None = None, command: list[str] | None = None, *,
              model=None, dataset=None, name: str | None = None, image_size: int | None = None,
              import_root: str | None = None, clamp_n: bool = False, overwrite: bool = False,
              run_extra: dict | None = None, device: str | None = "auto", notify=None, executor=None,
              shard: tuple[int, int] | None = None, deterministic: bool | None = None) -> BenchRun:
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
        device: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``: an ``nn.Module`` handed over as
            ``model`` runs on its own device (the probe too); a model loaded here on CUDA when
            present, else MPS, else the CPU. A model that must move is evaluated as a copy: the
            caller's model never changes device, mode, parameters or ``requires_grad``.
        deterministic: cuDNN/cuBLAS deterministic kernels (:func:`.devices.deterministic_mode`);
            None: on for CUDA, off elsewhere.
        notify: called with one-line messages (the device chosen, that the run resumed).
        executor: runs the grid's shards elsewhere, e.g. ``hfc_robust.bench.executors.RayExecutor``:
            ``prepare(device)`` (before anything is written), then ``run(job, data, store, progress,
            notify)`` puts every chunk of the :class:`~hfc_robust.bench.jobs.GridJob` into ``store``
            and releases the cluster (``close()`` does when the run stops before).
        shard: ``(I, N)``: evaluate only shard I of N (contiguous whole batches); the run folder
            keeps its chunks in ``outcomes/`` for :func:`hfc_robust.bench.merge.merge_shards`.

    Every finished batch is appended to ``out/.partial/`` so that an interrupted run resumes
    where it stopped when the same command is run again; the folder is removed once the
    results are written. Nothing is written before the model, the data and the grid have been
    checked.
    """
    started = started if started is not None else time.time()
    config = config if isinstance(config, BenchConfig) else BenchConfig(**config)
    check_single_split(executor, shard)
    inputs = load_inputs(config, dataset=dataset, model=model, name=name, image_size=image_size,
                         import_root=import_root, clamp_n=clamp_n, device=device,
                         driver_device=executor.driver_device(device) if executor is not None else None,
                         deterministic=deterministic,
                         adjust=lambda c, d: with_default_eps(c, d.shape))  # L2's default eps depends on the shape
    config, data, loaded, target = inputs.config, inputs.data, inputs.loaded, inputs.target
    rows = shard_rows(len(data), config.batch_size, shard) if shard is not None else None
    notes = _check_grid(config, data.shape)
    for note in notes:
        warnings.warn(note, HfcWarning, stacklevel=2)

    base = Path(out) if out is not None else Path.cwd()
    recorded = recorded_config(config, base)
    requested = "auto" if device is None else str(device)
    engine_model = inputs.engine_model
    started_run = start_run(out, recorded, inputs, overwrite, executor, requested,
                            lambda: GridJob(run_key(config, engine_model, data), len(data), config.batch_size, requested,
                                            config.to_dict(), ShippedModel.of(loaded), local_modules(loaded),
                                            deterministic), progress, notify)
    run_extra = started_run.run_extra(run_extra)
    if executor is None and notify:
        notify(device_line(device, target, inputs.handed and module_device(loaded.module) is not None,
                           inputs.determinism))
    # the driver of an executor only assembles the table here and runs the spot check
    with deterministic_mode(inputs.determinism):
        try:
            result = run_grid(config, model=engine_model, dataset=data, progress=progress,
                              checkpoint=started_run.checkpoint, device=target, notify=notify, rows=rows)
        finally:
            started_run.remove_scratch()
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
    run = provenance(recorded, data, loaded, time.time() - started, command, base=base,
                     extra={"gradient_checks": result.gradient_checks,
                            "attack_budgets": attack_budgets(config.attacks, result.provenance.get("num_classes", data.num_classes)),
                            "attack_seconds": result.provenance.get("attack_seconds", {}),
                            "checks": {c.name: c.status for c in checks},
                            "cells": list(result.table["cell"]), "warnings": notes,
                            "device": {**device_record(result.provenance["device"]),
                                       "requested": requested,
                                       "deterministic": inputs.determinism}, **run_extra})
    run["dataset"].update({"image_size": image_size} if image_size else {},
                          origin="python" if inputs.user_data else "registry")
    record_shard(run, shard, rows, data)
    files: list[Path] = []
    if out is not None:
        out = Path(out)
        files = write_run(out, result.table, run, result.example_frames(), checks)
        from ..results.plots import write_plots  # matplotlib is imported only when a run directory is written

        files += write_plots(result.table, out)
        files += _write_extra(result, out)
        finish_run_folder(out, files, rows, result.store)
    return BenchRun(result.table, checks, run, out, files, notes)


def attack_budgets(attacks, num_classes: int) -> dict:
    """run.json's ``attack_budgets``: each stage's budget of the grid's cascade attacks (``autoattack``
    always the standard). Their wall times are ``attack_seconds``, per row."""
    return {name: budgets for name in attacks if (budgets := cascade_budgets(name, num_classes)) is not None}

