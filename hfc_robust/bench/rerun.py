"""``hfc-robust rerun RUN_DIR``: repeat a run from its run.json and compare with the original."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import HfcError
from ..results.io import load_run_json
from .config import BenchConfig

__all__ = ["load_run_json", "rerun_config", "rerun_checks"]


def rerun_config(run: dict) -> BenchConfig:
    """The BenchConfig recorded in ``run['config']``.

    Unknown keys are refused rather than dropped: silently ignoring a setting written by a
    newer hfc-robust would repeat a different run. A relative ``weights`` path is resolved
    against the current directory (as ``bench`` did when it was given).
    """
    config = dict(run["config"])
    known = {f.name for f in dataclasses.fields(BenchConfig)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise HfcError(f"run.json config has settings this hfc-robust does not know: {', '.join(unknown)}",
                       "rerun with the hfc-robust version recorded in run.json versions")
    weights = config.get("weights")
    if weights and "://" not in str(weights) and not Path(weights).is_absolute():
        config["weights"] = str(Path(weights).resolve())
    return BenchConfig(**config)


def rerun_checks(run: dict) -> dict[str, bool]:
    """The optional sanity checks the original run made, to repeat them too."""
    checks = run.get("checks") or {}
    return {"check_convergence": "pgd-converged" in checks,
            "check_unbounded": "unbounded-attack-reaches-chance" in checks}
