"""Provenance recorded in every run.json: configuration, versions, git commit, model hash, sample."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd

__all__ = ["provenance", "versions", "git_commit"]


def versions() -> dict[str, str]:
    import numpy
    import torch
    import torchattacks

    from .. import __version__

    return {"hfc_robust": __version__, "torch": torch.__version__, "torchattacks": torchattacks.__version__,
            "numpy": numpy.__version__, "pandas": pd.__version__, "python": platform.python_version(),
            "platform": platform.platform()}


def git_commit() -> str | None:
    """The commit of the hfc_robust source checkout, if it is one (clean or not)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(config: dict, dataset, loaded_model, wall_time_s: float, command: list[str] | None = None,
               extra: dict | None = None) -> dict:
    n = len(dataset)
    indices = dataset.indices.tolist()
    contiguous = indices == list(range(indices[0], indices[0] + n)) if n else True
    record = {
        "command": command if command is not None else [Path(sys.argv[0]).name] + sys.argv[1:],
        "config": config,
        "seed": config.get("seed"),
        "versions": versions(),
        "git_commit": git_commit(),
        "model": {"name": loaded_model.name if loaded_model else config.get("model"),
                  "weights": loaded_model.weights if loaded_model else None,
                  "sha256": loaded_model.sha256 if loaded_model else None},
        "dataset": {"name": dataset.name, "source": dataset.source, "n": n, "sha256": dataset.fingerprint(),
                    "sample": f"first {n} images (indices {indices[0]}..{indices[-1]})" if contiguous and n else "explicit",
                    "indices": None if contiguous else indices},
        "wall_time_s": round(wall_time_s, 3),
    }
    record.update(extra or {})
    return record


