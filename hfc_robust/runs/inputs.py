"""A run's inputs, loaded and checked before anything is written: the data (its first ``n`` images),
the model (a registry name, a ``py:module:factory``, or an ``nn.Module`` or data handed over in
Python) on the run's device, probed once, and the spec with every name and data-dependent default
resolved (:class:`RunInputs`)."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..data.adapters import as_dataset
from ..data.dataset import Dataset
from ..engine.evaluate import EngineModel, model_identity
from ..engine.inference import probe_classes
from ..errors import HfcError
from ..models.custom import PY_PREFIX, ModuleModel, describe_module, load_factory_model
from ..models.zoo import LoadedModel, load_model
from ..runtime.devices import deterministic_mode, meta_error, on_device, run_device, wants_determinism
from ..spec import BenchSpec, RunSpec
from .paths import portable_dataset, portable_path

__all__ = [
    "RunInputs",
    "Source",
    "check_single_split",
    "recorded_config",
    "load_inputs",
    "as_model",
    "load_data",
    "load_config_model",
]


@dataclass(frozen=True)
class Source:
    """Where a run's model and data come from, beyond the names in its spec: ``model`` and ``data``
    handed over as objects (an ``nn.Module``, a registry name; tensors, a Dataset, ...), ``name``
    labelling an ``nn.Module``'s rows, ``image_size`` for ``imagefolder:`` data, ``import_root`` for a
    ``py:`` model's module, and ``clamp_n`` (the spec's ``n`` is a default, cut to the data's size)."""

    model: Any = None
    data: Any = None
    name: str | None = None
    image_size: int | None = None
    import_root: str | None = None
    clamp_n: bool = False


def as_model(model: Any, name: str | None = None) -> LoadedModel | ModuleModel:
    """A registry model, a ``py:`` factory, or any ``nn.Module`` as something a run evaluates.

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
    raise HfcError(
        f"cannot benchmark a {type(model).__name__} as a model",
        "pass an nn.Module taking pixels in [0, 1], or a registry name such as fmnist-cnn",
    )


@dataclass
class RunInputs:
    """A run's checked inputs: the ``spec`` with ``n``, ``model``, ``dataset`` and ``weights`` resolved
    (and an attack grid's default eps for the data's shape), the ``data`` (its first ``n`` images), the
    model (``loaded``, and ``engine``: its module on the run's device, probed once), whether the
    caller handed over the model object (``handed``) or the data (``user_data``), and whether the run
    uses deterministic kernels."""

    spec: RunSpec
    data: Dataset
    loaded: LoadedModel | ModuleModel
    engine: EngineModel
    handed: bool
    user_data: bool
    determinism: bool

    @property
    def target(self) -> torch.device:
        return self.engine.device


def check_single_split(executor: object, shard: tuple[int, int] | None) -> None:
    """HfcError when a run is asked to be split twice (``--shard`` and an executor)."""
    if executor is not None and shard is not None:
        raise HfcError("--shard and --executor ray both split the run", "use one of them")


def recorded_config(spec: RunSpec, base: Path) -> dict:
    """``spec`` as run.json records it: its dataset, weights and data paths relative to ``base``."""
    return {
        **spec.to_dict(),
        "dataset": portable_dataset(spec.dataset, base),
        "weights": portable_path(spec.weights, base),
        "data_dir": portable_path(spec.data_dir, base),
    }


def load_inputs(
    spec: RunSpec,
    source: Source = Source(),
    device: str | None = "auto",
    driver_device: str | None = None,
    deterministic: bool | None = None,
) -> RunInputs:
    """Load and check a run's data and model, nothing written.

    ``device`` is what the user asked for; ``driver_device`` the device this process evaluates on
    when an executor runs the shards elsewhere. A model handed over as an object runs on its own
    device unless ``device`` says otherwise; the caller's model is used in place when it already is
    there, else a copy is moved (:func:`~hfc_robust.runtime.devices.on_device`). An attack grid's
    eps is resolved for the images' shape here (:meth:`~hfc_robust.spec.BenchSpec.resolved`)."""
    source = source if source is not None else Source()
    user_data = source.data is not None
    data = as_dataset(source.data, name=None) if user_data else load_data(spec, source.image_size)
    if spec.n is not None and spec.n > len(data):
        if not source.clamp_n:
            raise HfcError(
                f"n = {spec.n} is more than the {len(data)} images of {data.name}",
                f"pass n = {len(data)} or fewer (--n all for every image)",
            )
        spec = spec.replace(n=len(data))
    data = data.take(spec.n)
    if isinstance(spec, BenchSpec):
        spec = spec.resolved(data.shape)  # L2's default eps depends on the images' shape
    data.fingerprint()  # the sample's identity; reading it also finds unreadable or odd-sized images up front
    loaded = (
        load_config_model(spec, data, source.import_root)
        if source.model is None
        else as_model(source.model, source.name)
    )
    handed = source.model is not None and not isinstance(source.model, str)  # the caller's own object: its device
    target = run_device(driver_device or device, loaded.module if handed else None)
    module = on_device(loaded.module, target)  # the caller's model itself, or a copy on the run's device
    if module is not loaded.module:
        loaded = dataclasses.replace(loaded, module=module)
    determinism = wants_determinism(deterministic, target)
    # cuBLAS reads its workspace setting once, at the process's first CUDA matmul: the probe's
    with deterministic_mode(determinism):
        classes = probe_classes(
            module, data, describe_module(module) if isinstance(loaded, ModuleModel) else f"model {loaded.name}", target
        )
    if target.type == "meta":  # its forward ran (shapes only), but there is nothing to evaluate
        raise meta_error()
    if user_data and classes > data.num_classes:
        # tensors carry no class count: the model's outputs are the classes (chance = 1/classes)
        data = copy.copy(data)
        data.num_classes = classes
    spec = spec.replace(
        model=loaded.name,
        dataset=spec.dataset if not user_data else data.name,
        weights=spec.weights if source.model is None else loaded.weights,
    )
    identity = model_identity(loaded if isinstance(loaded, LoadedModel) else loaded.module)
    engine = EngineModel(module, target, identity, classes, loaded if isinstance(loaded, LoadedModel) else None)
    return RunInputs(spec, data, loaded, engine, handed, user_data, determinism)


def load_data(spec: RunSpec, image_size: int | None = None) -> Dataset:
    """The dataset ``spec.dataset`` names (registry name, ``npz:``, ``imagefolder:``), all of it."""
    return as_dataset(spec.dataset, image_size=image_size, data_dir=spec.data_dir)


def load_config_model(spec: RunSpec, data: Dataset, import_root: str | Path | None = None) -> LoadedModel | ModuleModel:
    """The model ``spec.model`` names (registry name or ``py:module:factory``) with ``spec.weights``."""
    if spec.model.startswith(PY_PREFIX):
        return load_factory_model(spec.model, spec.weights, Path(import_root) if import_root else None)
    return load_model(spec.model, spec.weights, num_classes=data.num_classes, input_shape=data.shape)
