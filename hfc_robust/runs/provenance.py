"""Provenance recorded in every run.json: configuration, versions, git commit, model hash, sample."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd

__all__ = ["provenance", "engine_version", "versions", "git_commit", "index_ranges", "model_record"]


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import numpy
    import torch

    from .. import __version__

    try:  # read from its metadata: importing torchattacks costs a PGD-only run 0.7 s
        torchattacks_version = version("torchattacks")
    except PackageNotFoundError:
        torchattacks_version = None
    return {
        "hfc_robust": __version__,
        "torch": torch.__version__,
        "torchattacks": torchattacks_version,
        "numpy": numpy.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def engine_version() -> int:
    """:data:`hfc_robust.ENGINE_VERSION`: which engine produced a run's outcomes."""
    from .. import ENGINE_VERSION

    return ENGINE_VERSION


def git_commit() -> str | None:
    """The commit of the hfc_robust source checkout, if it is one (clean or not)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def index_ranges(indices) -> list[list[int]]:
    """Sample indices as inclusive ``[first, last]`` runs of consecutive numbers, in order:
    ``[0, 1, 2, 7, 8]`` -> ``[[0, 2], [7, 8]]``."""
    ranges: list[list[int]] = []
    for index in (int(i) for i in indices):
        if ranges and index == ranges[-1][1] + 1:
            ranges[-1][1] = index
        else:
            ranges.append([index, index])
    return ranges


def model_record(model, base: Path | str | None = None) -> dict:
    """What run.json says about the model: name, class, SHA-256s and where the weights came from.

    ``sha256`` identifies the weights for ``compare``: the checkpoint file's SHA-256 for a
    registry model (as before), the state_dict's SHA-256 for your own ``nn.Module``.
    """
    from ..models.custom import ModuleModel, class_path, state_dict_sha256
    from .paths import portable_path

    base = Path(base) if base is not None else Path.cwd()
    if model is None:
        return {"name": None, "weights": None, "sha256": None}
    if isinstance(model, ModuleModel):
        return {
            "name": model.name,
            "source": model.source,
            "class": class_path(model.module),
            "sha256": model.sha256,
            "state_dict_sha256": model.sha256,
            "weights": portable_path(model.weights, base),
            "weights_sha256": model.weights_sha256,
            "import_root": portable_path(model.import_root, base),
        }
    return {
        "name": model.name,
        "source": "registry",
        "class": class_path(model.module),
        "weights": portable_path(model.weights, base),
        "sha256": model.sha256,
        "state_dict_sha256": state_dict_sha256(model.module),
    }


def provenance(
    config: dict,
    dataset,
    loaded_model,
    wall_time_s: float,
    command: list[str] | None = None,
    extra: dict | None = None,
    base: Path | str | None = None,
) -> dict:
    """run.json's record. ``base`` is the run folder: recorded paths are relative to it."""
    n = len(dataset)
    indices = dataset.indices.tolist()
    ranges = index_ranges(indices)
    record = {
        "command": command if command is not None else [Path(sys.argv[0]).name] + sys.argv[1:],
        "config": config,
        "seed": config.get("seed"),
        "engine_version": engine_version(),
        "versions": versions(),
        "git_commit": git_commit(),
        "model": model_record(loaded_model, base),
        "dataset": {
            "name": dataset.name,
            "source": dataset.source,
            "n": n,
            "sha256": dataset.fingerprint(),
            "sample": f"first {n} images (indices {indices[0]}..{indices[-1]})"
            if len(ranges) == 1 and ranges[0][0] == 0
            else f"{n} images (see indices)",
            "indices": ranges,
        },
        "paths_relative_to": "run folder",
        "wall_time_s": round(wall_time_s, 3),
    }
    record.update(extra or {})
    return record
