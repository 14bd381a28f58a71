"""``hfc-robust corruptions`` in one call: load, check, run (locally, on a shard, or on Ray), write.

:func:`corruptions_run` mirrors :func:`~hfc_robust.bench.api.bench_run` and shares its pieces:
the model and data loaders, the run-folder checks, the checkpoint in ``OUT/.partial/``, shards
(``outcomes/`` kept for ``hfc-robust merge``), provenance. :func:`corruption_shard` is what a Ray
worker runs for a job of kind ``corruptions``; :func:`merge_corruption_shards` joins shards.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..corruptions.params import SEVERITY_PARAMS, SOURCE
from ..corruptions.registry import CORRUPTIONS_VERSION
from ..data.adapters import as_dataset
from ..errors import HfcError
from ..models.custom import ModuleModel, describe_module
from ..models.zoo import LoadedModel
from ..results.corruptions import write_corruption_run
from .api import OUTCOMES_DIR, PARTIAL_DIR, _probe, as_model, load_config_model, load_data, shard_record
from .checkpoint import OutcomeStore
from .corruption_config import KIND, CorruptionConfig
from .corruption_engine import assemble_corruptions, corruption_run_key, run_corruptions
from .paths import portable_dataset, portable_path
from .provenance import device_record, index_ranges, provenance
from .runfolder import check_out_folder, remove_stale_files
from .shards import shard_rows

__all__ = ["CorruptionRun", "corruptions_run", "corruption_shard", "merge_corruption_shards"]


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
                    device: str | None = "cpu", notify=None, executor=None,
                    shard: tuple[int, int] | None = None) -> CorruptionRun:
    """Run a corruption grid; write the run folder when ``out`` is given. Arguments as
    :func:`~hfc_robust.bench.api.bench_run`'s (``config`` is a :class:`CorruptionConfig`)."""
    started = started if started is not None else time.time()
    config = config if isinstance(config, CorruptionConfig) else CorruptionConfig(**config)
    if executor is not None and shard is not None:
        raise HfcError("--shard and --executor ray both split the run", "use one of them")
    user_data = dataset is not None
    data = as_dataset(dataset, name=None) if user_data else load_data(config, image_size)
    if config.n is not None and config.n > len(data):
        if not clamp_n:
            raise HfcError(f"n = {config.n} is more than the {len(data)} images of {data.name}",
                           f"pass n = {len(data)} or fewer (--n all for every image)")
        config = dataclasses.replace(config, n=len(data))
    data = data.take(config.n)
    rows = shard_rows(len(data), config.batch_size, shard) if shard is not None else None
    data.fingerprint()
    loaded = load_config_model(config, data, import_root) if model is None else as_model(model, name)
    _probe(loaded.module, data, describe_module(loaded.module) if isinstance(loaded, ModuleModel) else f"model {loaded.name}")
    config = dataclasses.replace(config, model=loaded.name, dataset=config.dataset if not user_data else data.name,
                                 weights=config.weights if model is None else loaded.weights)
    base = Path(out) if out is not None else Path.cwd()
    recorded = {**config.to_dict(), "dataset": portable_dataset(config.dataset, base),
                "weights": portable_path(config.weights, base), "data_dir": portable_path(config.data_dir, base)}
    checkpoint = None
    if out is not None:
        out = Path(out)
        identity = json.loads(json.dumps({"config": recorded, "model sha256": loaded.sha256,
                                          "dataset sha256": data.fingerprint()}, default=str))
        check_out_folder(out, identity, overwrite)
        out.mkdir(parents=True, exist_ok=True)
        checkpoint = str(out / PARTIAL_DIR)
    engine_model = loaded if isinstance(loaded, LoadedModel) else loaded.module
    run_extra = dict(run_extra or {})
    scratch = None
    if executor is not None:
        if checkpoint is None:
            scratch = checkpoint = tempfile.mkdtemp(prefix="hfc-robust-")
        job = dict(kind=KIND, config=config.to_dict(), model=None if model is None else engine_model,
                   dataset=data if user_data else None, image_size=image_size, import_root=import_root, device=device,
                   key=corruption_run_key(config, engine_model, data))
        run_extra["executor"] = executor.run(job, OutcomeStore(checkpoint, job["key"]), len(data), progress, notify)
        device = executor.driver_device(device)
    try:
        result = run_corruptions(config, model=engine_model, dataset=data, progress=progress, checkpoint=checkpoint,
                                 device=device, notify=notify, rows=rows)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    run = provenance(recorded, data, loaded, time.time() - started, command, base=base,
                     extra={"kind": KIND, "corruptions": _corruption_record(), "cells": list(result.table["cell"]),
                            "device": device_record(result.provenance["device"]), **run_extra})
    run["dataset"].update({"image_size": image_size} if image_size else {}, origin="python" if user_data else "registry")
    if rows is not None:
        run["shard"] = shard_record(shard, rows, run["dataset"])
        first, stop = rows
        run["dataset"].update(n=stop - first, indices=index_ranges(data.indices[first:stop].tolist()),
                              sample=f"shard {shard[0]}/{shard[1]}: positions {first}..{stop - 1} of the "
                                     f"{run['dataset']['sample']}")
    files: list[Path] = []
    if out is not None:
        files = write_corruption_run(out, result.table, result.spectra(), run, result.example_frames())
        remove_stale_files(out, files)
        if rows is not None:
            shutil.rmtree(out / OUTCOMES_DIR, ignore_errors=True)
            os.replace(out / PARTIAL_DIR, out / OUTCOMES_DIR)
        else:
            result.store.remove()
    return CorruptionRun(result.table, run, out, files, result=result)


def corruption_shard(job: dict, first: int, stop: int, threads: int = 1) -> dict:
    """One shard of a corruption run, in a Ray worker: its chunks, host, pid, seconds and device
    (what :func:`~hfc_robust.bench.executors.run_shard` returns for a bench job)."""
    import socket

    import torch

    from .allocator import fix_mmap_threshold

    fix_mmap_threshold()
    torch.set_num_threads(threads)
    began = time.time()
    config = CorruptionConfig(**job["config"])
    data = job["dataset"] if job["dataset"] is not None else load_data(config, job["image_size"]).take(config.n)
    model = job["model"]
    if model is None:
        loaded = load_config_model(config, data, job["import_root"])
        model = loaded if isinstance(loaded, LoadedModel) else loaded.module
    host = socket.gethostname()
    if corruption_run_key(config, model, data) != job["key"]:
        raise HfcError(f"the worker on {host} loaded different weights or images than the driver",
                       "give every Ray node the same model and data files (same paths and contents)")
    result = run_corruptions(config, model=model, dataset=data, rows=(first, stop), device=job["device"])
    return {"chunks": {start: result.store.chunk(start) for start in result.store.starts}, "host": host,
            "pid": os.getpid(), "seconds": round(time.time() - began, 3),
            "device": device_record(result.provenance["device"])}


def merge_corruption_shards(dirs: list[Path], runs: list[dict], stores: list[OutcomeStore], out: Path,
                            overwrite: bool = False, command: list[str] | None = None) -> CorruptionRun:
    """Join shard folders of ``hfc-robust corruptions --shard I/N`` (already read and checked for
    coverage by :func:`~hfc_robust.bench.merge.merge_shards`) into ``out``: byte-identical
    results.csv, summary, spectra and examples to the unsharded run's."""
    started = time.time()
    first = runs[0]
    check_out_folder(out, {"config": first["config"], "model sha256": first["model"]["sha256"],
                           "dataset sha256": first["dataset"]["sha256"]}, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    recorded = dict(first["config"])
    config = CorruptionConfig(**{**recorded, "corruptions": tuple(recorded["corruptions"]),
                                 "severities": tuple(recorded["severities"]), "radii": tuple(recorded["radii"]),
                                 "rhos": tuple(recorded["rhos"])})
    store = OutcomeStore(out / PARTIAL_DIR, f"merge-corruptions:{config.fingerprint()}:{first['model']['sha256']}:"
                                            f"{first['dataset']['sha256']}")
    for shard_store in stores:
        for start in shard_store.starts:
            store.append(start, shard_store.chunk(start))
    result = assemble_corruptions(config, first["dataset"]["name"], store)
    run = json.loads(json.dumps(first))
    shard = run.pop("shard")
    run["dataset"].update(n=shard["of_n"], indices=shard["of_indices"], sample=shard["of_sample"])
    run.update(cells=list(result.table["cell"]), wall_time_s=round(time.time() - started, 3),
               merged_from=[{"folder": str(d), "rows": r["shard"]["rows"], "wall_time_s": r.get("wall_time_s"),
                             "device": r.get("device")} for d, r in zip(dirs, runs)],
               command=command if command is not None else run.get("command"))
    files = write_corruption_run(out, result.table, result.spectra(), run, result.example_frames())
    remove_stale_files(out, files)
    shutil.rmtree(out / PARTIAL_DIR, ignore_errors=True)
    return CorruptionRun(result.table, run, out, files, result=result)
