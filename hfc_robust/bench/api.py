"""One call that does what ``hfc-robust bench`` does: load, run, check, write."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..data.datasets import load_dataset
from ..models.zoo import load_model
from ..results.io import write_run
from .checks import Check, checks_failed, convergence_check, run_checks, unbounded_check
from .config import BenchConfig
from .engine import run_bench
from .provenance import device_record, provenance
from .spotcheck import spot_check

__all__ = ["BenchRun", "bench_run", "PARTIAL_DIR"]

PARTIAL_DIR = ".partial"  # the checkpoint folder inside a run directory


@dataclass
class BenchRun:
    table: pd.DataFrame
    checks: list[Check]
    run: dict
    out: Path | None
    files: list[Path] = field(default_factory=list)  # everything written into ``out``

    @property
    def failed(self) -> bool:
        return checks_failed(self.checks)

    @property
    def dataset_name(self) -> str:
        return str(self.run["dataset"]["name"])

    @property
    def n(self) -> int:
        return int(self.run["dataset"]["n"])


def bench_run(config: dict | BenchConfig, out: Path | str | None = None, progress=None, check_convergence: bool = False,
              check_unbounded: bool = False, started: float | None = None, command: list[str] | None = None,
              device: str | None = "cpu", notify=None) -> BenchRun:
    """Run a bench grid with sanity checks; write the run directory when ``out`` is given.

    Every finished batch is appended to ``out/.partial/`` so that an interrupted run resumes
    where it stopped when the same command is run again; the folder is removed once the
    results are written.
    """
    started = started if started is not None else time.time()
    config = config if isinstance(config, BenchConfig) else BenchConfig(**config)
    dataset = load_dataset(config.dataset, config.n, config.data_dir)
    model = load_model(config.model, config.weights, num_classes=dataset.num_classes, input_shape=dataset.shape)
    checkpoint = None
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        checkpoint = str(Path(out) / PARTIAL_DIR)
    result = run_bench(config, model=model, dataset=dataset, progress=progress, checkpoint=checkpoint, device=device,
                       notify=notify)
    extra = []
    if check_convergence:
        extra.append(convergence_check(result, model, dataset))
    if check_unbounded:
        extra.append(unbounded_check(result, model, dataset))
    extra.append(spot_check(result, result.modules, dataset, config.spot_check, result.provenance["device"],
                            (lambda text: progress(None, None, text)) if progress else None))
    checks = run_checks(result.table, result.gradient_checks, extra, outcomes=result.outcomes)
    run = provenance(config.to_dict(), dataset, model, time.time() - started, command,
                     extra={"gradient_checks": result.gradient_checks,
                            "checks": {c.name: c.status for c in checks},
                            "cells": list(result.table["cell"]),
                            "device": device_record(result.provenance["device"])})
    files: list[Path] = []
    if out is not None:
        files = write_run(out, result.table, run, result.example_frames(), checks)
        from ..results.plots import write_plots  # matplotlib is imported only when a run directory is written

        files += write_plots(result.table, out)
        result.store.remove()  # only now: the results it held are on disk
    return BenchRun(result.table, checks, run, Path(out) if out is not None else None, files)
