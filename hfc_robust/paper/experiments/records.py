"""Run records of the reproduction's own experiments: one JSON per run (configuration, seed,
sample, history, wall time, versions, git commit) beside an ``.npz`` of per-image outcomes, both
written atomically; a run whose JSON says ``complete`` is not run again (resumable)."""

from __future__ import annotations

import io
import json
import platform
import subprocess
from pathlib import Path

import numpy as np

from ...results.io import atomic_write_bytes, atomic_write_text

__all__ = ["versions", "save_run", "load_run", "is_complete"]


def versions() -> dict:
    import scipy
    import torch

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "threads": torch.get_num_threads(),
        "git_commit": commit,
    }


def save_run(path: Path, record: dict, arrays: dict[str, np.ndarray] | None = None) -> None:
    """``path`` (.json) and, with ``arrays``, ``path.with_suffix('.npz')`` (compressed, written first)."""
    if arrays is not None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
        atomic_write_bytes(path.with_suffix(".npz"), buffer.getvalue())
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")


def load_run(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    record = json.loads(path.read_text())
    arrays = {}
    if path.with_suffix(".npz").is_file():
        with np.load(path.with_suffix(".npz"), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    return record, arrays


def is_complete(path: Path) -> bool:
    return path.is_file() and bool(json.loads(path.read_text()).get("complete"))
