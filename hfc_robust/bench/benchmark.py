"""Benchmark your own model and data from Python: :func:`benchmark`, the one public way into the
engine (``hfc-robust bench`` is the other door to the same :func:`~hfc_robust.bench.api.bench_run`)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch

from ..errors import HfcError
from ..threat import Norm
from .api import BenchRun, bench_run
from .config import BenchConfig

__all__ = ["benchmark"]

_OPTIONS = {f.name for f in dataclasses.fields(BenchConfig)} - {"dataset", "model", "weights", "n", "attacks", "eps",
                                                                  "radii", "rhos", "data_dir", "norm"}


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Use ``threads`` torch CPU threads inside the block, then restore the caller's setting."""
    if threads is None:
        yield
        return
    if threads < 1:
        raise HfcError(f"threads must be >= 1, got {threads}", "pass e.g. threads=1")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def benchmark(model, data, name: str | None = None, *, attacks: Sequence[str] = ("pgd",),
              eps: Sequence[float] | None = None, norm: Norm | str = Norm.LINF, radii: Sequence[float] = (),
              rhos: Sequence[float] = (),
              n: int | None = None, out: str | Path | None = None, threads: int | None = None,
              image_size: int | None = None, check_convergence: bool = False, check_unbounded: bool = False,
              overwrite: bool = False, progress: Callable[[int, int], None] | None = None, device: str = "auto",
              deterministic: bool | None = None, **options) -> BenchRun:
    """Benchmark any model on any data: the checks and run folder of ``hfc-robust bench``.

    Args:
        model: an ``nn.Module`` taking N x C x H x W pixels in [0, 1] (normalization inside) and
            returning N x classes logits; or a registry name (``fmnist-cnn``) or ``py:module:factory``.
        data: a registry name (``fmnist``, ``npz:PATH``, ``imagefolder:PATH``), an ``ImageDataset``,
            a pair ``(images, labels)`` (images float in [0, 1] or uint8, N x C x H x W; labels N
            class indices), a ``torch.utils.data.Dataset`` of ``(image, label)`` items or a
            non-shuffling ``DataLoader`` over one.
        name: the ``model`` column of every row for an ``nn.Module`` (default: its class name);
            registry and ``py:`` models keep their own names.
        attacks, eps, radii, rhos: the grid; eps on the [0, 1] pixel scale, radii in frequency
            bins, rhos the Eq. 3 smoothing strengths. ``eps=None``: the norm's default (8/255
            for L-inf; 0.5 for L2 on 3 x 32 x 32 images, required for L2 on other shapes).
        norm: the threat model, ``"linf"`` (default) or ``"l2"``: every attack's eps is a radius
            in this norm. One norm per call.
        n: the first ``n`` images; default all of them. More than the data holds is an HfcError.
        out: a run folder to write (results.csv, results.md, run.json, examples.csv.gz,
            checks.json, plots); a folder holding a different run is refused unless ``overwrite``.
        threads: torch CPU threads for this call (restored afterwards); default: unchanged.
        image_size: pixels, to resize and centre-crop ``imagefolder:`` images.
        check_convergence, check_unbounded: the optional sanity checks.
        progress: called as ``progress(done, total, text)`` as the grid runs.
        device: ``auto`` (default): an ``nn.Module`` runs on the device its parameters are on (a
            model on ``cuda:1`` runs on ``cuda:1``, the input probe included); a registry name or
            ``py:`` factory on CUDA when present, else MPS, else the CPU. ``cpu``, ``cuda``,
            ``cuda:N`` or ``mps`` override it. Your model is never changed: it is evaluated in
            place when it is already on that device (its own and its submodules' train/eval
            flags restored afterwards; parameters, buffers and ``requires_grad`` are never
            written), and as a copy moved to that device otherwise, so it stays where it was.
        deterministic: deterministic cuDNN/cuBLAS kernels (None: on for CUDA, where they cost
            some speed; see the README's "Devices"); run.json records the choice.
        **options: the other :class:`BenchConfig` settings (``steps``, ``alpha``, ``restarts``,
            ``loss``, ``seed``, ``batch_size``, ``smooth_normalize``, ``inclusive``).

    Returns:
        a :class:`BenchRun`: ``table`` (pandas), ``checks``, ``run`` (run.json's record),
        ``out`` and ``files``. run.json records the module's class and its state_dict's SHA-256.

    Raises:
        HfcError: one line naming the problem and the fix, for a wrong type or shape.
    """
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise HfcError(f"benchmark() got unknown options {', '.join(unknown)}", f"choose from {', '.join(sorted(_OPTIONS))}")
    if isinstance(attacks, str) or isinstance(eps, (int, float)) or isinstance(radii, (int, float)) \
            or isinstance(rhos, (int, float)):
        raise HfcError("attacks, eps, radii and rhos are sequences", "write e.g. attacks=('pgd',), radii=(8,)")
    if n is not None and (not isinstance(n, int) or n < 1):
        raise HfcError(f"n must be a positive number of images or None (all), got {n!r}", "pass e.g. n=1000")
    registry_data = isinstance(data, str)
    config = BenchConfig(dataset=data if registry_data else "python", model="python", n=n, attacks=tuple(attacks),
                         eps=None if eps is None else tuple(eps), norm=norm, radii=tuple(radii), rhos=tuple(rhos),
                         **options)
    with _torch_threads(threads):
        return bench_run(config, out=out, progress=progress, check_convergence=check_convergence,
                         check_unbounded=check_unbounded, model=model, dataset=None if registry_data else data,
                         name=name, image_size=image_size, overwrite=overwrite, device=device,
                         deterministic=deterministic)
