"""What an executor ships to a worker, so that a worker needs no file at any path.

A run split into shards (:mod:`.executors`) hands the executor a *job*: an object, put into
Ray's object store once, whose :meth:`ShardJob.run_rows` evaluates the rows of one shard on
the worker and returns their checkpoint chunks. The driver reads each shard's rows itself
(:class:`ShardRows`: the stored images, labels and dataset indices of rows ``first..stop``)
and ships them too, so the data never has to be at the same path, or anywhere, on the workers.

Models travel as :class:`ShippedModel`: how to build the architecture (a registry entry's
spec, a ``py:module:factory`` whose module must be importable on the worker, or for an
``nn.Module`` handed over in Python the module itself), plus the state_dict as
``torch.save`` bytes with their SHA-256, which the worker verifies, loads strictly and checks
against the driver's :func:`~hfc_robust.models.custom.state_dict_sha256`.

:class:`SpecJob` is the job of every run (an attack grid or a corruption grid): the engine
evaluates its spec on the shard's rows.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn as nn

from ..data.dataset import ImageDataset, to_unit_float
from ..engine.evaluate import evaluate
from ..errors import HfcError
from ..models.custom import PY_PREFIX, ModuleModel, load_factory_model, state_dict_sha256
from ..models.registry import ModelSpec
from ..models.zoo import LoadedModel
from ..runtime.devices import deterministic_mode, on_device, resolve_device, wants_determinism
from ..spec import spec_from_dict

__all__ = ["ShardJob", "ShardRows", "ShippedModel", "SpecJob", "local_modules"]

Chunk = dict[str, np.ndarray]


@dataclass
class ShardRows:
    """Rows ``first..first+len-1`` of a run's dataset, as the worker gets them: an in-memory
    :class:`ImageDataset` with the stored images (uint8 or float), labels and the dataset's own
    indices (per-example random starts are seeded from them). ``first`` is a multiple of the
    batch size, so the shard's batches are exactly the full run's."""

    first: int
    dataset: ImageDataset

    @property
    def stop(self) -> int:
        return self.first + len(self.dataset)

    @classmethod
    def read(cls, data, first: int, stop: int, batch_size: int) -> ShardRows:
        """Read rows ``first..stop-1`` of ``data`` (an ``ImageDataset`` or a streaming dataset) on the
        driver, one batch at a time, in their stored form."""
        parts = [data.images[lo : min(lo + batch_size, stop)] for lo in range(first, stop, batch_size)]
        if len({part.dtype for part in parts}) > 1:  # uint8 and float batches: x/255 is what to_float gives either way
            parts = [to_unit_float(part) for part in parts]
        images = torch.cat(parts) if parts else data.images[first:first]
        subset = ImageDataset(
            data.name,
            images.contiguous(),
            data.labels[first:stop].clone(),
            data.num_classes,
            tuple(data.class_names),
            data.source,
            data.indices[first:stop].clone(),
        )
        return cls(first, subset)


def _state_bytes(module: nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save({key: value.detach().cpu() for key, value in module.state_dict().items()}, buffer)
    return buffer.getvalue()


@dataclass
class ShippedModel:
    """A model as it travels to a worker. ``kind`` is ``registry`` (``spec`` is the registry entry,
    ``meta`` the driver's ``LoadedModel`` without its module), ``py`` (``spec`` is the
    ``py:module:factory`` text) or ``module`` (``module`` is the ``nn.Module`` itself, on the CPU)."""

    kind: str
    state: bytes
    state_sha256: str  # of ``state``
    weights_sha256: str  # state_dict_sha256 of the driver's model
    spec: ModelSpec | str | None = None
    name: str = ""  # a registry model's LoadedModel fields, rebuilt around the worker's module
    weights: str | None = None
    sha256: str | None = None
    module: nn.Module | None = None

    @classmethod
    def of(cls, model: LoadedModel | ModuleModel | nn.Module) -> ShippedModel:
        module = model.module if isinstance(model, (LoadedModel, ModuleModel)) else model
        state = _state_bytes(module)
        state_sha256, weights_sha256 = hashlib.sha256(state).hexdigest(), state_dict_sha256(module)
        if isinstance(model, LoadedModel):
            return cls(
                "registry",
                state,
                state_sha256,
                weights_sha256,
                spec=model.spec,
                name=model.name,
                weights=model.weights,
                sha256=model.sha256,
            )
        if isinstance(model, ModuleModel) and model.source.startswith(PY_PREFIX):
            return cls("py", state, state_sha256, weights_sha256, spec=model.source)
        # no recipe to rebuild it: the module itself (pickled by Ray), its tensors on the CPU
        return cls("module", b"", "", weights_sha256, module=on_device(module, torch.device("cpu")))

    def build(self, where: str = "the worker") -> LoadedModel | nn.Module:
        """The model, rebuilt and verified: what :func:`~hfc_robust.engine.evaluate.evaluate` takes."""
        if self.kind == "module":
            assert self.module is not None  # of() ships it with this kind
            module = self.module
        else:
            if hashlib.sha256(self.state).hexdigest() != self.state_sha256:
                raise HfcError(
                    f"the weights shipped to {where} do not match their SHA-256",
                    "rerun; if it persists, check the Ray object store's memory and disks",
                )
            if isinstance(self.spec, ModelSpec):
                module = self.spec.build()
            else:
                assert isinstance(self.spec, str)  # of() ships the py: text with this kind
                module = load_factory_model(self.spec, progress=False).module
            state = torch.load(io.BytesIO(self.state), map_location="cpu", weights_only=True)
            try:
                module.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                raise HfcError(
                    f"the model built on {where} does not fit the driver's weights "
                    f"({str(exc).strip().splitlines()[0][:160]})",
                    "install the same version of the model's code on every Ray node",
                ) from None
            module.eval()
        if state_dict_sha256(module) != self.weights_sha256:
            raise HfcError(
                f"the model on {where} has other weights than the driver's",
                "install the same version of the model's code on every Ray node",
            )
        if isinstance(self.spec, ModelSpec):
            return LoadedModel(self.name, module, self.spec, self.weights, self.sha256)
        return module


def local_modules(model) -> tuple[str, ...]:
    """The file or package folder of a ``py:`` model's top-level module when it is a local file
    (not installed in the interpreter's library folders): Ray ships it to the workers
    (``runtime_env`` ``py_modules``), which must otherwise be able to import it themselves."""
    import sysconfig

    if not (isinstance(model, ModuleModel) and model.source.startswith(PY_PREFIX) and model.import_root):
        return ()
    top = model.source[len(PY_PREFIX) :].rpartition(":")[0].split(".")[0]
    root = Path(model.import_root)
    found = [p for p in (root / top, root / f"{top}.py") if p.exists()]
    installed = {Path(sysconfig.get_paths()[name]).resolve() for name in ("purelib", "platlib", "stdlib", "platstdlib")}
    if not found or any(root == folder or folder in root.parents for folder in installed):
        return ()
    return (str(found[0]),)


class ShardJob(Protocol):
    """What an executor runs (see the module docstring): ``key`` the run's checkpoint key (the
    chunks are stored under it), ``n`` its rows, ``batch_size`` (shards start on multiples of
    it), ``device`` the device asked for (``auto``, ``cpu``, ``cuda``...; the executor maps it to
    its workers), ``py_modules`` (local module files or folders the workers must import), and
    ``run_rows(rows, device, progress)``, called on a worker, returning the shard's chunks keyed
    by their first row in the whole run."""

    key: str
    n: int
    batch_size: int
    device: str
    py_modules: tuple[str, ...]

    def run_rows(self, rows: ShardRows, device: str, progress=None) -> dict[int, Chunk]: ...


@dataclass
class SpecJob:
    """A run as a :class:`ShardJob`, for either kind of spec: the :class:`ShardJob` attributes, the
    spec as run.json records it (``spec``, with its ``kind``), the shipped model, ``py_modules``
    (:func:`local_modules`) and ``deterministic`` (None: on for CUDA)."""

    key: str
    n: int
    batch_size: int
    device: str
    kind: str
    spec: dict
    model: ShippedModel
    py_modules: tuple[str, ...] = ()
    deterministic: bool | None = None

    def run_rows(self, rows: ShardRows, device: str, progress=None) -> dict[int, Chunk]:
        """Evaluate the shard's rows with the engine; its chunks keyed by their first row in the whole run."""
        target = resolve_device(device)
        model = self.model.build()
        with deterministic_mode(wants_determinism(self.deterministic, target)):
            result = evaluate(
                spec_from_dict(self.spec, self.kind), model, rows.dataset, device=target, progress=progress
            )
        return {rows.first + start: result.store.chunk(start) for start in result.store.starts}
