"""One call that does what ``hfc-robust bench`` and ``hfc-robust corruptions`` do: load and check the
inputs, open the run folder, evaluate (here, on a shard, or on Ray), check, record, write
(:func:`run_spec`). The two kinds of spec share every step; what differs is the kind's sanity
checks (an attack grid's; a corruption grid has none) and its files (:mod:`.writers`).

The CLI and :func:`hfc_robust.benchmark` both use it, so a Python run and a command-line run write
the same run folder.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..checks.bands import band_consistency_check
from ..checks.binarization import CHECK_NAME as BINARIZATION
from ..checks.binarization import auto_cost, binarization_check
from ..checks.optional import convergence_check, unbounded_check
from ..checks.paired import Check, checks_failed, run_checks
from ..checks.spotcheck import CHECK_NAME, spot_check
from ..engine.attack_result import AttackResult
from ..engine.evaluate import evaluate, run_key
from ..engine.loop import Progress
from ..engine.result import EngineResult
from ..errors import HfcWarning
from ..models.zoo import LoadedModel
from ..runtime.devices import deterministic_mode, device_line, device_record, module_device
from ..scale.jobs import ShippedModel, SpecJob, local_modules
from ..scale.shards import shard_rows
from ..spec import BenchSpec, RunSpec
from .folder import finish_run_folder, record_shard, start_run
from .inputs import RunInputs, Source, check_single_split, load_inputs, recorded_config
from .provenance import provenance
from .writers import grid_notes, kind_record, write_files

__all__ = ["RunOptions", "RunResult", "run_spec"]


@dataclass(frozen=True)
class RunOptions:
    """How a run is carried out, beside what it evaluates (its spec).

    Attributes:
        out: the run folder to write (None: nothing is written); a folder holding a different run
            is refused unless ``overwrite``.
        device: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``: an ``nn.Module`` handed over as
            the model runs on its own device (the probe too); a model loaded here on CUDA when
            present, else MPS, else the CPU. A model that must move is evaluated as a copy.
        deterministic: cuDNN/cuBLAS deterministic kernels (None: on for CUDA, off elsewhere).
        executor: runs the shards elsewhere (:class:`~hfc_robust.scale.executors.RayExecutor`).
        shard: ``(I, N)``: evaluate only shard I of N (contiguous whole batches); the run folder
            keeps its chunks in ``outcomes/`` for ``hfc-robust merge``.
        check_convergence, check_unbounded: an attack grid's optional checks.
        check_binarization: the binarization test (:mod:`~hfc_robust.checks.binarization`): True on every
            white-box and adaptive row at the largest eps, False never, None (default) on the autoattack
            rows through a defense when its cost is small beside theirs.
        feature_layer: the module whose input is the penultimate features, for the binarization test
            (None: a registry model's own; the test is skipped for other models without one).
        progress: called as ``progress(done, total, text)``; ``notify`` with one-line messages.
        command: the command line run.json records; ``started``: when the run began (time.time());
            ``run_extra``: more entries for run.json (the thread count).
    """

    out: Path | str | None = None
    overwrite: bool = False
    device: str | None = "auto"
    deterministic: bool | None = None
    executor: Any = None
    shard: tuple[int, int] | None = None
    check_convergence: bool = False
    check_unbounded: bool = False
    check_binarization: bool | None = None
    feature_layer: str | None = None
    progress: Progress | None = None
    notify: Callable[[str], None] | None = None
    command: list[str] | None = None
    started: float | None = None
    run_extra: dict | None = None


@dataclass
class RunResult:
    """A finished run: the ``table``, the sanity ``checks``, run.json's record (``run``), the folder
    and the files written, the warnings, and the engine's ``result`` (per-example outcomes)."""

    table: pd.DataFrame
    checks: list[Check]
    run: dict
    out: Path | None
    files: list[Path] = field(default_factory=list)  # everything written into ``out``
    warnings: list[str] = field(default_factory=list)
    result: EngineResult | None = field(default=None, repr=False)

    @property
    def failed(self) -> bool:
        """A check contradicts the run (exit 3): see :func:`~hfc_robust.checks.paired.checks_failed`."""
        return checks_failed(self.checks)

    @property
    def warned(self) -> bool:
        """A check warns (``--strict`` exits 3 then too)."""
        return any(check.status == "warn" for check in self.checks)

    @property
    def kind(self) -> str:
        return str(self.run.get("kind", BenchSpec.kind))

    @property
    def dataset_name(self) -> str:
        return str(self.run["dataset"]["name"])

    @property
    def n(self) -> int:
        return int(self.run["dataset"]["n"])


def _checks(result: EngineResult, inputs: RunInputs, options: RunOptions) -> list[Check]:
    """An attack grid's sanity checks (none for a corruption grid)."""
    if not isinstance(result, AttackResult):
        return []
    extra = []
    if options.check_convergence:
        extra.append(convergence_check(result, inputs.engine, inputs.data))
    if options.check_unbounded:
        extra.append(unbounded_check(result, inputs.engine, inputs.data))
    if options.shard is not None:
        extra.append(Check(CHECK_NAME, "skipped", "not run on a shard: `hfc-robust merge` runs it on the merged run"))
    else:
        progress = options.progress
        extra.append(
            spot_check(
                result,
                result.modules,
                inputs.data,
                result.spec.spot_check,
                result.provenance["device"],
                (lambda text: progress(None, None, text)) if progress else None,
            )
        )
    extra.append(band_consistency_check(result.band_leaks()))
    extra.append(_binarization(result, inputs, options))
    return run_checks(result.table, result.gradient_checks, extra, outcomes=result.outcomes)


def _binarization(result: AttackResult, inputs: RunInputs, options: RunOptions) -> Check:
    """The binarization test as ``options.check_binarization`` asks (see :class:`RunOptions`)."""
    if options.check_binarization is False:
        return Check(BINARIZATION, "skipped", "disabled (--no-check-binarization)")
    if options.check_binarization is None:
        wanted, reason = auto_cost(result.cells, len(inputs.data))
        if not wanted:
            return Check(BINARIZATION, "skipped", reason)
    if options.shard is not None:
        return Check(BINARIZATION, "skipped", "not run on a shard: run it on an unsharded run")
    layer = options.feature_layer or (
        inputs.loaded.spec.feature_layer if isinstance(inputs.loaded, LoadedModel) else None
    )
    progress = options.progress
    return binarization_check(
        result,
        result.modules,
        result.grid.bpda_modules,
        inputs.data,
        layer,
        everywhere=bool(options.check_binarization),
        device=result.provenance["device"],
        progress=(lambda text: progress(None, None, text)) if progress else None,
    )


DEFAULT_OPTIONS, NO_SOURCE = RunOptions(), Source()  # frozen: safe to share as defaults


def run_spec(spec: RunSpec, options: RunOptions = DEFAULT_OPTIONS, source: Source = NO_SOURCE) -> RunResult:
    """Run a spec (either kind) with its sanity checks; write the run folder when ``options.out`` is given.

    Every finished batch is appended to ``out/.partial/`` so that an interrupted run resumes
    where it stopped when the same command is run again; the folder is removed once the
    results are written. Nothing is written before the model, the data and the grid have been
    checked.
    """
    started = options.started if options.started is not None else time.time()
    executor, shard, notify = options.executor, options.shard, options.notify
    check_single_split(executor, shard)
    inputs = load_inputs(
        spec,
        source,
        options.device,
        executor.driver_device(options.device) if executor is not None else None,
        options.deterministic,
    )
    spec, data, loaded = inputs.spec, inputs.data, inputs.loaded
    rows = shard_rows(len(data), spec.batch_size, shard) if shard is not None else None
    notes = grid_notes(spec, data.shape)
    for note in notes:
        warnings.warn(note, HfcWarning, stacklevel=2)
    base = Path(options.out) if options.out is not None else Path.cwd()
    recorded = recorded_config(spec, base)
    requested = "auto" if options.device is None else str(options.device)
    engine_model = loaded if isinstance(loaded, LoadedModel) else loaded.module
    started_run = start_run(
        options.out,
        recorded,
        inputs,
        options.overwrite,
        executor,
        requested,
        lambda: SpecJob(
            run_key(spec, engine_model, data),
            len(data),
            spec.batch_size,
            requested,
            spec.kind,
            spec.to_dict(),
            ShippedModel.of(loaded),
            local_modules(loaded),
            options.deterministic,
        ),
        options.progress,
        notify,
    )
    run_extra = started_run.run_extra(options.run_extra)
    if executor is None and notify:
        notify(
            device_line(
                options.device,
                inputs.target,
                inputs.handed and module_device(loaded.module) is not None,
                inputs.determinism,
            )
        )
    # the driver of an executor only assembles the table here (and runs the spot check)
    with deterministic_mode(inputs.determinism):
        try:
            result = evaluate(
                spec,
                inputs.engine,
                data,
                progress=options.progress,
                checkpoint=started_run.checkpoint,
                rows=rows,
                notify=notify,
            )
            checks = _checks(result, inputs, options)  # the checks read the outcomes from the scratch folder
        finally:
            started_run.remove_scratch()
    run = provenance(
        recorded,
        data,
        loaded,
        time.time() - started,
        options.command,
        base=base,
        extra={
            **kind_record(result, checks, data.num_classes),
            "cells": list(result.table["cell"]),
            "warnings": notes,
            "device": {
                **device_record(result.provenance["device"]),
                "requested": requested,
                "deterministic": inputs.determinism,
            },
            **run_extra,
        },
    )
    run["dataset"].update(
        {"image_size": source.image_size} if source.image_size else {},
        origin="python" if inputs.user_data else "registry",
    )
    record_shard(run, shard, rows, data)
    files: list[Path] = []
    out = Path(options.out) if options.out is not None else None
    if out is not None:
        files = write_files(out, result, run, checks)
        finish_run_folder(out, files, rows, result.store)
    return RunResult(result.table, checks, run, out, files, notes, result)
