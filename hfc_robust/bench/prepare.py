"""What every run that streams a dataset through the engine does before and after it: load and
check the model and the data, open the run folder and its checkpoint, hand shards to an
executor, and record or keep a shard's chunks. ``bench_run`` (the attack grid) and
``corruptions_run`` (common corruptions) share these steps instead of copying them.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ..attacks.base import eval_mode
from ..data.adapters import as_dataset
from ..errors import HfcError
from ..models.custom import PY_PREFIX, ModuleModel, describe_module, load_factory_model
from ..models.zoo import LoadedModel, load_model
from .checkpoint import OutcomeStore
from .devices import deterministic_mode, meta_error, on_device, run_device, wants_determinism
from .jobs import local_modules
from .paths import portable_dataset, portable_path
from .provenance import index_ranges
from .runfolder import check_out_folder, remove_stale_files

__all__ = ["RunInputs", "check_single_split", "recorded_config", "load_inputs", "Started", "start_run", "open_run_folder", "run_on_executor", "record_shard", "finish_run_folder",
           "merged_store", "merged_record", "finish_merged_folder", "as_model", "probe_classes", "load_data", "load_config_model", "shard_record", "PARTIAL_DIR", "OUTCOMES_DIR"]

PARTIAL_DIR = ".partial"  # the checkpoint folder inside a run directory
OUTCOMES_DIR = "outcomes"  # a shard's finished chunks, kept for `hfc-robust merge`


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


def probe_classes(module: nn.Module, dataset, what: str, device: torch.device | str = "cpu") -> int:
    """Run ``module`` (already on ``device``) on one image moved there; the number of classes it
    predicts. HfcError, one line, when it fails or does not return N x classes scores covering the labels."""
    sample = dataset.to_float(dataset.images[:1]).to(device)
    try:
        with eval_mode(module), torch.inference_mode():
            output = module(sample)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "device" in first.lower():  # e.g. a forward that moves its input to a device of its own choosing
            fix = f"keep every parameter and tensor the forward uses on one device (the run uses {device})"
        else:
            fix = "give images of the shape the model takes, as N x C x H x W floats in [0, 1]"
        raise HfcError(f"{what} failed on a batch of shape {tuple(sample.shape)} from {dataset.name} on {device} "
                       f"({type(exc).__name__}: {first[:160]})", fix) from None
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


@dataclass
class RunInputs:
    """A run's checked inputs: ``config`` with ``n``, ``model``, ``dataset`` and ``weights`` resolved,
    the ``data`` (its first ``n`` images), the model (``loaded``, its module on ``target``), whether
    the caller handed over the model object (``handed``) or the data (``user_data``), and whether
    the run uses deterministic kernels."""

    config: object
    data: object
    loaded: LoadedModel | ModuleModel
    target: torch.device
    handed: bool
    user_data: bool
    determinism: bool

    @property
    def module(self) -> nn.Module:
        return self.loaded.module

    @property
    def engine_model(self) -> LoadedModel | nn.Module:
        """What the engine takes: a registry model with its provenance, else the bare module."""
        return self.loaded if isinstance(self.loaded, LoadedModel) else self.loaded.module


def check_single_split(executor, shard) -> None:
    """HfcError when a run is asked to be split twice (``--shard`` and an executor)."""
    if executor is not None and shard is not None:
        raise HfcError("--shard and --executor ray both split the run", "use one of them")


def recorded_config(config, base: Path) -> dict:
    """``config`` as run.json records it: its dataset, weights and data paths relative to ``base``."""
    return {**config.to_dict(), "dataset": portable_dataset(config.dataset, base),
            "weights": portable_path(config.weights, base), "data_dir": portable_path(config.data_dir, base)}


def load_inputs(config, *, dataset=None, model=None, name: str | None = None, image_size: int | None = None,
                import_root: str | None = None, clamp_n: bool = False, device: str | None = "auto",
                driver_device: str | None = None, deterministic: bool | None = None, adjust=None) -> RunInputs:
    """Load and check a run's data and model, nothing written.

    ``config`` is a dataclass with ``dataset``, ``model``, ``weights``, ``data_dir``, ``n`` and
    ``batch_size``; ``adjust(config, data)`` may fill in settings that depend on the images (the
    L2 default eps). ``device`` is what the user asked for; ``driver_device`` the device this
    process evaluates on when an executor runs the shards elsewhere. A model handed over as an
    object runs on its own device unless ``device`` says otherwise; the caller's model is used
    in place when it already is there, else a copy is moved (:func:`~.devices.on_device`)."""
    user_data = dataset is not None
    data = as_dataset(dataset, name=None) if user_data else load_data(config, image_size)
    if config.n is not None and config.n > len(data):
        if not clamp_n:
            raise HfcError(f"n = {config.n} is more than the {len(data)} images of {data.name}",
                           f"pass n = {len(data)} or fewer (--n all for every image)")
        config = dataclasses.replace(config, n=len(data))
    data = data.take(config.n)
    if adjust is not None:
        config = adjust(config, data)
    data.fingerprint()  # the sample's identity; reading it also finds unreadable or odd-sized images up front
    loaded = load_config_model(config, data, import_root) if model is None else as_model(model, name)
    handed = model is not None and not isinstance(model, str)  # the caller's own object: follow its device
    target = run_device(driver_device or device, loaded.module if handed else None)
    module = on_device(loaded.module, target)  # the caller's model itself, or a copy on the run's device
    if module is not loaded.module:
        loaded = dataclasses.replace(loaded, module=module)
    determinism = wants_determinism(deterministic, target)
    # cuBLAS reads its workspace setting once, at the process's first CUDA matmul: the probe's
    with deterministic_mode(determinism):
        classes = probe_classes(module, data, describe_module(module) if isinstance(loaded, ModuleModel)
                                else f"model {loaded.name}", target)
    if target.type == "meta":  # its forward ran (shapes only), but there is nothing to evaluate
        raise meta_error()
    if user_data and classes > data.num_classes:
        # tensors carry no class count: the model's outputs are the classes (chance = 1/classes)
        data = copy.copy(data)
        data.num_classes = classes
    config = dataclasses.replace(config, model=loaded.name, dataset=config.dataset if not user_data else data.name,
                                 weights=config.weights if model is None else loaded.weights)
    return RunInputs(config, data, loaded, target, handed, user_data, determinism)


def open_run_folder(out: Path | str | None, recorded_config: dict, inputs: RunInputs, overwrite: bool) -> str | None:
    """Check ``out`` (:func:`~.runfolder.check_out_folder`), create it, and return its checkpoint
    folder; None without a run folder."""
    if out is None:
        return None
    out = Path(out)
    # compared as run.json holds it (JSON lists, not tuples)
    identity = json.loads(json.dumps({"config": recorded_config, "model sha256": inputs.loaded.sha256,
                                      "dataset sha256": inputs.data.fingerprint()}, default=str))
    check_out_folder(out, identity, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    return str(out / PARTIAL_DIR)


@dataclass
class Started:
    """A run's checkpoint folder (None: in memory), the scratch folder to remove once the table is
    assembled (the executor's chunks when no run folder is written), and run.json's executor record."""

    checkpoint: str | None
    scratch: str | None = None
    executor_record: dict | None = None

    def run_extra(self, extra: dict | None) -> dict:
        """run.json's extra entries: ``extra`` and, with an executor, its record."""
        return dict(extra or {}, **({"executor": self.executor_record} if self.executor_record is not None else {}))

    def remove_scratch(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def start_run(out: Path | str | None, recorded_config: dict, inputs: RunInputs, overwrite: bool, executor=None,
              requested: str = "auto", make_job=None, progress=None, notify=None) -> Started:
    """Before the engine runs in this process: with an executor, start or join it (refusing a
    device the cluster lacks) before anything is written; open the run folder; then have the
    executor put every chunk of ``make_job()`` (a :class:`~.jobs.ShardJob`) into the checkpoint,
    from which the engine assembles the table without attacking anything."""
    if executor is not None:
        executor.prepare(requested, local_modules(inputs.loaded))
    try:
        checkpoint = open_run_folder(out, recorded_config, inputs, overwrite)
    except BaseException:
        if executor is not None:
            executor.close()
        raise
    if executor is None:
        return Started(checkpoint)
    record, checkpoint, scratch = run_on_executor(executor, make_job(), inputs.data, checkpoint, progress, notify)
    return Started(checkpoint, scratch, record)


def run_on_executor(executor, job, data, checkpoint: str | None, progress=None, notify=None) -> tuple[dict, str, str | None]:
    """Have ``executor`` put every chunk of ``job`` into the checkpoint folder (a scratch folder when
    the run writes none); ``(run.json's executor record, the folder, the scratch folder or None)``.
    The caller assembles the table from the folder, then removes the scratch folder."""
    scratch = None
    if checkpoint is None:  # the shards' chunks need a folder even when no run folder is written
        scratch = checkpoint = tempfile.mkdtemp(prefix="hfc-robust-")
    try:
        record = executor.run(job, data, OutcomeStore(checkpoint, job.key), progress, notify)
    except BaseException:
        executor.close()  # what run() does when it ends; here the run stopped before
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    return record, checkpoint, scratch


def shard_record(shard: tuple[int, int], rows: tuple[int, int], dataset_record: dict) -> dict:
    """run.json's ``shard``: which shard, its rows, and the whole sample it is a part of."""
    index, count = shard
    first, stop = rows
    return {"index": index, "count": count, "rows": [first, stop], "n": stop - first,
            "of_n": dataset_record["n"], "of_indices": dataset_record["indices"], "of_sample": dataset_record["sample"],
            "outcomes": OUTCOMES_DIR}


def record_shard(run: dict, shard: tuple[int, int] | None, rows: tuple[int, int] | None, data) -> None:
    """run.json's ``shard`` record and the shard's own sample, for a run of one shard."""
    if rows is None:
        return
    run["shard"] = shard_record(shard, rows, run["dataset"])
    first, stop = rows
    run["dataset"].update(n=stop - first, indices=index_ranges(data.indices[first:stop].tolist()),
                          sample=f"shard {shard[0]}/{shard[1]}: positions {first}..{stop - 1} of the "
                                 f"{run['dataset']['sample']}")


def finish_run_folder(out: Path, files: list[Path], rows: tuple[int, int] | None, store: OutcomeStore) -> None:
    """Once every file is written: remove what an earlier run left, and the checkpoint, or for a
    shard keep its chunks in ``outcomes/`` for ``hfc-robust merge``."""
    remove_stale_files(out, files)
    if rows is not None:
        shutil.rmtree(out / OUTCOMES_DIR, ignore_errors=True)
        os.replace(out / PARTIAL_DIR, out / OUTCOMES_DIR)
    else:
        store.remove()  # only now: the results it held are on disk


def merged_store(out: Path, first: dict, stores: list[OutcomeStore], overwrite: bool, kind: str,
                 fingerprint: str) -> OutcomeStore:
    """``hfc-robust merge``: check ``out`` against the first shard's identity, create it, and put every
    shard's chunks into one store in its checkpoint folder (``kind`` and ``fingerprint``, the
    configuration's, make the store's key)."""
    check_out_folder(out, {"config": first["config"], "model sha256": first["model"]["sha256"],
                           "dataset sha256": first["dataset"]["sha256"]}, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    store = OutcomeStore(out / PARTIAL_DIR, f"{kind}:{fingerprint}:{first['model']['sha256']}:{first['dataset']['sha256']}")
    for shard_store in stores:
        for start in shard_store.starts:
            store.append(start, shard_store.chunk(start))
    return store


def merged_record(first: dict, dirs: list[Path], runs: list[dict], wall_time_s: float, cells: list[str],
                  command: list[str] | None, **extra) -> dict:
    """run.json of a merged run: the first shard's, with the whole sample, the cells, the shards it
    came from and ``extra`` entries."""
    run = json.loads(json.dumps(first))
    shard = run.pop("shard")
    run["dataset"].update(n=shard["of_n"], indices=shard["of_indices"], sample=shard["of_sample"])
    run.update(**extra, cells=cells, wall_time_s=round(wall_time_s, 3),
               merged_from=[{"folder": str(d), "rows": r["shard"]["rows"], "wall_time_s": r.get("wall_time_s"),
                             "device": r.get("device")} for d, r in zip(dirs, runs)],
               command=command if command is not None else run.get("command"))
    return run


def finish_merged_folder(out: Path, files: list[Path]) -> None:
    """Once a merged run's files are written: remove what an earlier run left, and the merge's store."""
    remove_stale_files(out, files)
    shutil.rmtree(out / PARTIAL_DIR, ignore_errors=True)


def load_data(config, image_size: int | None = None):
    """The dataset ``config.dataset`` names (registry name, ``npz:``, ``imagefolder:``), all of it."""
    return as_dataset(config.dataset, image_size=image_size, data_dir=config.data_dir)


def load_config_model(config, data, import_root: str | Path | None = None) -> LoadedModel | ModuleModel:
    """The model ``config.model`` names (registry name or ``py:module:factory``) with ``config.weights``."""
    if config.model.startswith(PY_PREFIX):
        return load_factory_model(config.model, config.weights, Path(import_root) if import_root else None)
    return load_model(config.model, config.weights, num_classes=data.num_classes, input_shape=data.shape)
