"""Provenance recorded in every run.json: configuration, versions, git commit, model hash, sample."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd

__all__ = ["provenance", "versions", "git_commit", "device_record"]


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




def device_record(device: str) -> dict:
    """The device a run used and what it is: the GPU's name, driver and CUDA version where there is one."""
    import torch

    record = {"device": str(device)}
    resolved = torch.device(device)
    if resolved.type == "cuda":
        index = resolved.index if resolved.index is not None else torch.cuda.current_device()
        record.update(name=torch.cuda.get_device_name(index), cuda=torch.version.cuda,
                      capability=".".join(map(str, torch.cuda.get_device_capability(index))), driver=_nvidia_driver())
    else:
        record.update(name=platform.processor() or platform.machine(), threads=torch.get_num_threads())
    return record


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None
