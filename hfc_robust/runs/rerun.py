"""``hfc-robust rerun RUN_DIR``: repeat a run from its run.json and compare with the original."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from ..errors import HfcError
from ..results.io import load_run_json
from ..spec import RunSpec, spec_from_dict
from .paths import resolve_dataset, resolve_path

__all__ = ["load_run_json", "rerun_spec", "rerun_checks", "rerun_options", "OptionalChecks"]


def rerun_spec(run: dict, run_dir: Path | str | None = None) -> RunSpec:
    """The spec recorded in ``run['config']`` (of the run's ``kind``), with its paths usable from here.

    Unknown keys are refused rather than dropped (:meth:`~hfc_robust.spec.RunSpec.from_dict`).
    Runs that record ``paths_relative_to: run folder`` have their data, weights and data-dir paths
    resolved against ``run_dir``, so the rerun works from any working directory; older runs'
    relative paths are resolved against the current directory (as ``bench`` did when it was given them).
    """
    config = dict(run["config"])
    spec_from_dict(config, run.get("kind"))  # unknown settings are refused before anything else
    model, dataset = run.get("model") or {}, run.get("dataset") or {}
    if model.get("source") == "python":
        raise HfcError(
            f"this run benchmarked an nn.Module built in Python ({model.get('class')}), which run.json cannot rebuild",
            "repeat it with hfc_robust.benchmark, or use --model py:module:factory",
        )
    if dataset.get("origin") == "python":
        raise HfcError(
            f"this run used data handed over in Python ({dataset.get('name')}), which run.json cannot reload",
            "repeat it with hfc_robust.benchmark, or use a dataset name such as npz:PATH",
        )
    if run.get("paths_relative_to") == "run folder" and run_dir is not None:
        base = Path(run_dir)
        config["dataset"] = resolve_dataset(config["dataset"], base)
        config["weights"] = resolve_path(config.get("weights"), base)
        config["data_dir"] = resolve_path(config.get("data_dir"), base)
    else:
        weights = config.get("weights")
        if weights and "://" not in str(weights) and not Path(weights).is_absolute():
            config["weights"] = str(Path(weights).resolve())
    return spec_from_dict(config, run.get("kind"))


def rerun_options(run: dict, run_dir: Path | str) -> dict:
    """How the original loaded its model and data beyond the config: ``image_size`` for an
    ImageFolder, the folder a ``py:`` model's module was imported from; and where it ran: a CPU
    run is repeated on the CPU (byte-comparable), a GPU run on ``auto``, with its deterministic setting."""
    options: dict = {}
    device = run.get("device") or {}
    if device.get("device"):
        options["device"] = "cpu" if str(device["device"]).startswith("cpu") else "auto"
    if isinstance(device.get("deterministic"), bool):
        options["deterministic"] = device["deterministic"]
    image_size = (run.get("dataset") or {}).get("image_size")
    if image_size:
        options["image_size"] = int(image_size)
    import_root = (run.get("model") or {}).get("import_root")
    if import_root:
        options["import_root"] = resolve_path(import_root, Path(run_dir))
    return options


class OptionalChecks(TypedDict):
    """The :class:`~hfc_robust.runs.run.RunOptions` switches of an attack grid's optional checks."""

    check_convergence: bool
    check_unbounded: bool


def rerun_checks(run: dict) -> OptionalChecks:
    """The optional sanity checks the original run made, to repeat them too."""
    checks = run.get("checks") or {}
    return {
        "check_convergence": "pgd-converged" in checks,
        "check_unbounded": "unbounded-attack-reaches-chance" in checks,
    }
