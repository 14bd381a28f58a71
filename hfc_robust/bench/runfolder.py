"""A run folder's life: refusing to write over a different run, and removing files an earlier run
left that this one did not write. ``bench_run`` and ``merge`` share both."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import HfcError
from ..results.io import RUN_FILES

__all__ = ["check_out_folder", "remove_stale_files", "recorded_identity"]


def recorded_identity(out: Path) -> dict | None:
    """The identity (see :func:`check_out_folder`) of the run whose run.json is in ``out``; None without one."""
    path = out / "run.json"
    if not path.is_file():
        return None
    try:
        run = json.loads(path.read_text())
    except (OSError, ValueError):
        run = {}
    run = run if isinstance(run, dict) else {}
    return {"config": run.get("config"), "model sha256": (run.get("model") or {}).get("sha256"),
            "dataset sha256": (run.get("dataset") or {}).get("sha256")}


def remove_stale_files(out: Path, written: list[Path]) -> None:
    """Delete run files (of a bench or a corruption run) that an earlier, replaced run left and
    this one did not write."""
    from ..results.corruptions import CORRUPTION_FILES
    from ..results.mineps import MIN_EPS_CSV, MIN_EPS_PLOT
    from ..results.plots import EPS_PLOT, RADIUS_PLOT
    from ..results.spectra import SPECTRA_NPZ, SPECTRA_PLOT

    kept = {path.name for path in written}
    for name in dict.fromkeys((*RUN_FILES, EPS_PLOT, RADIUS_PLOT, SPECTRA_NPZ, SPECTRA_PLOT, MIN_EPS_CSV, MIN_EPS_PLOT,
                               *CORRUPTION_FILES)):
        if name not in kept and (out / name).is_file():
            (out / name).unlink()


def check_out_folder(out: Path, identity: dict, overwrite: bool) -> None:
    """Refuse to write into a folder that holds something else, unless ``overwrite``.

    A run's identity is its recorded configuration and the SHA-256s of its model and images:
    the same command may write the same run again (or resume it from its checkpoint)."""
    if overwrite or not out.exists():
        return
    if not out.is_dir():
        raise HfcError(f"--out {out} is a file", "choose a folder for the run")
    existing = recorded_identity(out)
    if existing is None:
        others = sorted(p.name for p in out.iterdir() if not p.name.startswith(".partial"))
        if others:
            raise HfcError(f"{out} is not empty and holds no hfc-robust run ({', '.join(others[:3])}"
                           f"{', ...' if len(others) > 3 else ''})", "choose another --out, or pass --overwrite")
        return
    differs = [key for key in identity if existing.get(key) != identity[key]]
    if differs:
        detail = [key for key in differs if key != "config"]
        if "config" in differs:
            old = existing["config"] if isinstance(existing["config"], dict) else {}
            new = identity["config"]
            detail[:0] = [f"{key} {old.get(key)!r} -> {new.get(key)!r}" for key in sorted(set(old) | set(new))
                          if old.get(key) != new.get(key)][:3]
        raise HfcError(f"{out} holds a different run ({'; '.join(detail)})",
                       "choose another --out, or pass --overwrite to replace it")
