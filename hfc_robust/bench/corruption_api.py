"""``hfc-robust corruptions`` in one call: load, check, run (locally, on a shard, or on Ray), write.

:func:`corruptions_run` shares :func:`~hfc_robust.bench.api.bench_run`'s steps (:mod:`.prepare`):
loading and probing the model and the data, the run-folder checks, the checkpoint in
``OUT/.partial/``, shards (``outcomes/`` kept for ``hfc-robust merge``), the Ray executor (the
job is a :class:`CorruptionJob`) and provenance; :func:`merge_corruption_shards` joins shards.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..corruptions.params import SEVERITY_PARAMS, SOURCE
from ..corruptions.registry import CORRUPTIONS_VERSION
from ..results.corruptions import write_corruption_run
from .jobs import ConfigJob, ShardRows, ShippedModel, local_modules
from .prepare import (check_single_split, finish_merged_folder, recorded_config, finish_run_folder, load_inputs, merged_record, merged_store, record_shard,
                      start_run)
from .checkpoint import OutcomeStore
from .corruption_config import KIND, CorruptionConfig
from .corruption_engine import assemble_corruptions, corruption_run_key, run_corruptions
from .provenance import device_record, provenance
from .shards import shard_rows

__all__ = ["CorruptionRun", "CorruptionJob", "corruptions_run", "merge_corruption_shards"]


@dataclass
class CorruptionRun:
    """A finished corruption run: the table, run.json's record and the files written."""

    table: pd.DataFrame
    run: dict
    out: Path | None
    files: list[Path] = field(default_factory=list)
    checks: list = field(default_factory=list)  # none: a corruption run has no attack to check
    result: object = None

    failed = False

    @property
    def dataset_name(self) -> str:
        return str(self.run["dataset"]["name"])


def _corruption_record() -> dict:
    import PIL
    import scipy

    return {"version": CORRUPTIONS_VERSION, "parameters": SOURCE,
            "severity_params": {name: [list(p) if isinstance(p, tuple) else p for p in values]
                                for name, values in SEVERITY_PARAMS.items()},
            "libraries": {"scipy": scipy.__version__, "pillow": PIL.__version__, "python": platform.python_version()}}


def corruptions_run(config: dict | CorruptionConfig, out: Path | str | None = None, progress=None,
                    started: float | None = None, command: list[str] | None = None, *, model=None, dataset=None,
                    name: str | None = None, image_size: int | None = None, import_root: str | None = None,
                    clamp_n: bool = False, overwrite: bool = False, run_extra: dict | None = None,
                    device: str | None = "auto", notify=None, executor=None,
                    shard: tuple[int, int] | None = None) -> CorruptionRun:
    """Run a corruption grid; write the run folder when ``out`` is given. Arguments as
    :func:`~hfc_robust.bench.api.bench_run`'s (``config`` is a :class:`CorruptionConfig`); it shares
    its loading, checks, run folder, executor and shard steps (:mod:`.prepare`)."""
    started = started if started is not None else time.time()
    config = config if isinstance(config, CorruptionConfig) else CorruptionConfig(**config)
    check_single_split(executor, shard)
    inputs = load_inputs(config, dataset=dataset, model=model, name=name, image_size=image_size,
                         import_root=import_root, clamp_n=clamp_n, device=device,
                         driver_device=executor.driver_device(device) if executor is not None else None,
                         deterministic=False)  # nothing is attacked: no gradients to make deterministic
    config, data, loaded = inputs.config, inputs.data, inputs.loaded
    rows = shard_rows(len(data), config.batch_size, shard) if shard is not None else None
    base = Path(out) if out is not None else Path.cwd()
    recorded = recorded_config(config, base)
    requested = "auto" if device is None else str(device)
    engine_model = inputs.engine_model
    started_run = start_run(out, recorded, inputs, overwrite, executor, requested,
                            lambda: CorruptionJob(corruption_run_key(config, engine_model, data), len(data),
                                                  config.batch_size, requested, config.to_dict(),
                                                  ShippedModel.of(loaded), local_modules(loaded)), progress, notify)
    run_extra = started_run.run_extra(run_extra)
    try:
        result = run_corruptions(config, model=engine_model, dataset=data, progress=progress,
                                 checkpoint=started_run.checkpoint, device=inputs.target, notify=notify, rows=rows)
    finally:
        started_run.remove_scratch()
    run = provenance(recorded, data, loaded, time.time() - started, command, base=base,
                     extra={"kind": KIND, "corruptions": _corruption_record(), "cells": list(result.table["cell"]),
                            "device": {**device_record(result.provenance["device"]), "requested": requested},
                            **run_extra})
    run["dataset"].update({"image_size": image_size} if image_size else {},
                          origin="python" if inputs.user_data else "registry")
    record_shard(run, shard, rows, data)
    files: list[Path] = []
    if out is not None:
        out = Path(out)
        files = write_corruption_run(out, result.table, result.spectra(), run, result.example_frames())
        finish_run_folder(out, files, rows, result.store)
    return CorruptionRun(result.table, run, out, files, result=result)


@dataclass
class CorruptionJob(ConfigJob):
    """A corruption run as a :class:`~hfc_robust.bench.jobs.ShardJob`: what a Ray worker runs on
    the rows the driver ships it (the model as a :class:`~hfc_robust.bench.jobs.ShippedModel`)."""

    def run_rows(self, rows: ShardRows, device: str, progress=None) -> dict:
        from .devices import resolve_device

        result = run_corruptions(CorruptionConfig(**self.config), model=self.model.build(), dataset=rows.dataset,
                                 device=resolve_device(device), progress=progress)
        return self.chunks(rows, result.store)


def merge_corruption_shards(dirs: list[Path], runs: list[dict], stores: list[OutcomeStore], out: Path,
                            overwrite: bool = False, command: list[str] | None = None) -> CorruptionRun:
    """Join shard folders of ``hfc-robust corruptions --shard I/N`` (already read and checked for
    coverage by :func:`~hfc_robust.bench.merge.merge_shards`) into ``out``: byte-identical
    results.csv, summary, spectra and examples to the unsharded run's."""
    started = time.time()
    first = runs[0]
    recorded = dict(first["config"])
    config = CorruptionConfig(**{**recorded, "corruptions": tuple(recorded["corruptions"]),
                                 "severities": tuple(recorded["severities"]), "radii": tuple(recorded["radii"]),
                                 "rhos": tuple(recorded["rhos"])})
    store = merged_store(out, first, stores, overwrite, "merge-corruptions", config.fingerprint())
    result = assemble_corruptions(config, first["dataset"]["name"], store)
    run = merged_record(first, dirs, runs, time.time() - started, list(result.table["cell"]), command)
    files = write_corruption_run(out, result.table, result.spectra(), run, result.example_frames())
    finish_merged_folder(out, files)
    return CorruptionRun(result.table, run, out, files, result=result)
