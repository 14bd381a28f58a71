"""hfc-robust: adversarial-robustness benchmarks for the low-pass defenses of Wang et al. (CVPR 2020).

Public API::

    from hfc_robust import split_frequencies, LowPass, smooth_first_conv, load_model, load_dataset, benchmark

``benchmark(model, data, name=..., out=...)`` benchmarks any ``nn.Module`` on any data and
writes the same run folder as ``hfc-robust bench``.

The names are imported lazily (PEP 562), so ``import hfc_robust`` and ``hfc-robust --help``
do not pay for torch until a name that needs it is used.

Subpackages, from the bottom up (imports point down only; import-linter's contracts in
pyproject.toml): ``threat``, ``cells``, ``budgets``, ``ops``, ``corruptions`` → ``defenses``,
``attacks``, ``models``, ``data`` → ``results`` (tables, plots, compare; no torch) → ``spec`` (the
run spec) → ``runtime`` (devices, threads, memory) → ``engine`` → ``checks`` → ``scale`` (shards,
Ray) → ``runs`` (a run from start to finish, the Python API) → ``paper``, ``analysis`` → ``cli``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"
#: Bumped whenever a change can move any outcome (a row's per-example results, the checks, the spot
#: check's sample); recorded in every run.json, so a committed number says which engine produced it.
#: 1: runs without the field (up to issue 12); 2: typed cells with the norm in the key (issue 15);
#: 3: the spot check's sample and rule (issue 16), AutoAttack's components as the reference's (issue 16);
#: 4: the gradient check at each attack's first step (issue 15).
ENGINE_VERSION = 4

_EXPORTS = {
    "split_frequencies": "ops.frequency",
    "low_pass": "ops.frequency",
    "high_pass": "ops.frequency",
    "frequency_mask": "ops.frequency",
    "smooth_kernels": "ops.kernels",
    "fourier_basis": "ops.fourier",
    "LowPass": "defenses.lowpass",
    "LowPassFilter": "defenses.lowpass",
    "InputTransform": "defenses.lowpass",
    "smooth_first_conv": "defenses.smoothing",
    "DefenseSpec": "defenses.spec",
    "FGSM": "attacks.fgsm",
    "PGD": "attacks.pgd",
    "list_attacks": "attacks.registry",
    "create_model": "models.zoo",
    "list_models": "models.zoo",
    "load_dataset": "data.datasets",
    "list_datasets": "data.datasets",
    "ImageDataset": "data.dataset",
    "benchmark": "runs.benchmark",
    "corruption_benchmark": "runs.benchmark",
    "run_spec": "runs.run",
    "RunOptions": "runs.run",
    "RunResult": "runs.run",
    "BenchSpec": "spec",
    "CorruptionSpec": "spec",
    "ThreatModel": "threat",
    "Norm": "threat",
    "Band": "band",
    "Cell": "cells",
    "CorruptionCell": "cells",
    "corrupt": "corruptions.registry",
    "APGD": "attacks.apgd",
    "APGDT": "attacks.apgd",
    "FABT": "attacks.fab",
    "Square": "attacks.square",
    "AutoAttack": "attacks.autoattack",
    "fourier_heatmap": "analysis.heatmap",
    "heatmap_run": "analysis.heatmap",
    "HfcError": "errors",
}
_REMOVED = ("bench", "run_bench")  # the ways in are benchmark() and run_spec() (CHANGELOG, Unreleased: "Removed")


def load_model(name: str, weights=None):
    """A registry model (``nn.Module`` in eval mode, taking pixels in [0, 1]) with its weights.

    ``weights`` is a path or URL; ``None`` uses the zoo's packaged or public checkpoint.
    Use :func:`hfc_robust.models.zoo.load_model` for the provenance (path, SHA-256) as well.
    """
    from .models.zoo import load_model as load_with_provenance

    return load_with_provenance(name, weights).module


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _REMOVED:
        raise AttributeError(
            f"hfc_robust.{name} was removed before the first release: use hfc_robust.benchmark(model, data, ...), "
            "whose .table is the results DataFrame"
        )
    raise AttributeError(f"module 'hfc_robust' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))


__all__ = ["__version__", "ENGINE_VERSION", "load_model", *_EXPORTS]
