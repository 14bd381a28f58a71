"""Benchmark your own model and data from Python: :func:`benchmark` (an attack grid) and
:func:`corruption_benchmark` (a corruption grid), the public ways into the engine;
``hfc-robust bench`` and ``hfc-robust corruptions`` are the other doors to the same
:func:`~hfc_robust.runs.run.run_spec`."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from ..errors import HfcError
from ..spec import BenchSpec, CorruptionSpec, RunSpec
from .inputs import Source
from .run import RunOptions, RunResult, run_spec

__all__ = ["benchmark", "corruption_benchmark"]

_NAMES_FROM_ARGUMENTS = {"dataset", "model", "weights", "data_dir"}  # given as the model and data arguments


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Use ``threads`` torch CPU threads inside the block, then restore the caller's setting."""
    if threads is None:
        yield
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise HfcError(f"threads must be a positive integer, got {threads!r}", "pass e.g. threads=1")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _spec(kind: type[RunSpec], data: Any, grid: dict[str, Any]) -> RunSpec:
    """The spec from the grid's keywords; HfcError naming the unknown ones and the sequences passed as scalars."""
    allowed = {f.name for f in dataclasses.fields(kind)} - _NAMES_FROM_ARGUMENTS
    unknown = sorted(set(grid) - allowed)
    if unknown:
        raise HfcError(f"unknown settings {', '.join(unknown)}", f"choose from {', '.join(sorted(allowed))}")
    for name in ("attacks", "eps", "radii", "rhos", "corruptions", "severities"):
        if isinstance(grid.get(name), (str, int, float)):
            raise HfcError(f"{name} is a sequence", f"write e.g. {name}=({grid[name]!r},)")
    grid.setdefault("n", None)  # all of the data unless n says otherwise
    return kind(dataset=data if isinstance(data, str) else "python", model="python", **grid)


def _run(
    kind: type[RunSpec],
    model: Any,
    data: Any,
    name: str | None,
    out: str | Path | None,
    threads: int | None,
    options: dict[str, Any],
    image_size: int | None,
    grid: dict[str, Any],
) -> RunResult:
    spec = _spec(kind, data, grid)
    source = Source(model=model, data=None if isinstance(data, str) else data, name=name, image_size=image_size)
    with _torch_threads(threads):
        return run_spec(spec, RunOptions(out=out, **options), source)


def benchmark(
    model: Any,
    data: Any,
    *,
    name: str | None = None,
    out: str | Path | None = None,
    threads: int | None = None,
    device: str = "auto",
    deterministic: bool | None = None,
    overwrite: bool = False,
    progress: Callable | None = None,
    image_size: int | None = None,
    check_convergence: bool = False,
    check_unbounded: bool = False,
    check_binarization: bool | None = None,
    feature_layer: str | None = None,
    **grid: Any,
) -> RunResult:
    """Benchmark any model on any data under attack: the checks and run folder of ``hfc-robust bench``.

    Args:
        model: an ``nn.Module`` taking N x C x H x W pixels in [0, 1] (normalization inside) and
            returning N x classes logits; or a registry name (``fmnist-cnn``) or ``py:module:factory``.
        data: a registry name (``fmnist``, ``npz:PATH``, ``imagefolder:PATH``), an ``ImageDataset``,
            a pair ``(images, labels)`` (images float in [0, 1] or uint8, N x C x H x W; labels N
            class indices), a ``torch.utils.data.Dataset`` of ``(image, label)`` items or a
            non-shuffling ``DataLoader`` over one.
        name: the ``model`` column of every row for an ``nn.Module`` (default: its class name);
            registry and ``py:`` models keep their own names.
        out: a run folder to write (results.csv, results.md, run.json, examples.csv.gz,
            checks.json, plots); a folder holding a different run is refused unless ``overwrite``.
        threads: torch CPU threads for this call (restored afterwards); default: unchanged.
        device: ``auto`` (default): an ``nn.Module`` runs on the device its parameters are on; a
            registry name or ``py:`` factory on CUDA when present, else MPS, else the CPU. ``cpu``,
            ``cuda``, ``cuda:N`` or ``mps`` override it. Your model is never changed: it is evaluated
            in place when it is already on that device (every submodule's train/eval flag restored;
            parameters, buffers and ``requires_grad`` never written), and as a copy otherwise.
        deterministic: deterministic cuDNN/cuBLAS kernels (None: on for CUDA; see "Devices" in the docs).
        progress: called as ``progress(done, total, text)`` as the grid runs.
        image_size: pixels, to resize and centre-crop ``imagefolder:`` images.
        check_convergence, check_unbounded: the optional sanity checks.
        check_binarization: the binarization test (Zimmermann et al. 2022): True on every white-box and
            adaptive row at the largest eps, False never, None (default) on the autoattack rows through a
            defense when it costs little beside them.
        feature_layer: for the binarization test on an ``nn.Module``: the name of the submodule whose
            input is the penultimate features (e.g. ``"fc"``); registry models know theirs.
        **grid: the attack grid, :class:`~hfc_robust.spec.BenchSpec`'s settings: ``attacks`` (default
            ``("pgd",)``), ``eps`` (radii on the [0, 1] pixel scale; default the norm's: 8/255 for
            L-inf, 0.5 for L2 on 3 x 32 x 32 images), ``norm`` (``"linf"`` or ``"l2"``), ``radii``
            (low-pass radii in frequency bins), ``rhos`` (Eq. 3 strengths), ``n`` (the first n
            images; default all), ``bands`` (frequency bands ``"LO-HI"`` restricting the perturbation,
            ``"all"`` the whole spectrum), ``steps``, ``step_size``, ``restarts``, ``loss``, ``seed``,
            ``batch_size``, ``smooth_normalize``, ``inclusive``, ``spot_check``, ``min_eps``, ...

    Returns:
        a :class:`~hfc_robust.runs.run.RunResult`: ``table`` (pandas), ``checks``, ``run``
        (run.json's record), ``out`` and ``files``. run.json records the module's class and its
        state_dict's SHA-256.

    Raises:
        HfcError: one line naming the problem and the fix, for a wrong type, shape or setting.
    """
    options = dict(
        device=device,
        deterministic=deterministic,
        overwrite=overwrite,
        progress=progress,
        check_convergence=check_convergence,
        check_unbounded=check_unbounded,
        check_binarization=check_binarization,
        feature_layer=feature_layer,
    )
    return _run(BenchSpec, model, data, name, out, threads, options, image_size, grid)


def corruption_benchmark(
    model: Any,
    data: Any,
    *,
    name: str | None = None,
    out: str | Path | None = None,
    threads: int | None = None,
    device: str = "auto",
    overwrite: bool = False,
    progress: Callable | None = None,
    image_size: int | None = None,
    **grid: Any,
) -> RunResult:
    """Accuracy of any model under the 15 CIFAR-10-C corruptions, with and without the low-pass
    defenses: the run folder of ``hfc-robust corruptions``. ``model``, ``data`` and the other
    arguments as :func:`benchmark`'s; ``**grid`` are :class:`~hfc_robust.spec.CorruptionSpec`'s
    settings (``corruptions``, ``severities``, ``radii``, ``rhos``, ``n``, ``seed``, ``batch_size``, ...)."""
    options = dict(device=device, deterministic=False, overwrite=overwrite, progress=progress)
    return _run(CorruptionSpec, model, data, name, out, threads, options, image_size, grid)
