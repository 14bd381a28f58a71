"""Table 2 (Sec. 6.3) in the paper's setting, and per-image outcomes for the BatchNorm runs already
in ``results/paper/table2/``: every run through the public ``hfc_robust.benchmark``.

Paper's setting (:mod:`hfc_robust.paper.rules.smoothing`), per model, ``results/paper/table2_paper/<model>/``:
``grid/`` (FGSM and PGD at the paper's eps, every rho, adaptive, with each image's minimal PGD eps up
to 1.0), ``autoattack/`` (AutoAttack at the same eps and rho on the first AA_N images) and
``outcomes.csv.gz`` (per image: robust or not in every row, and the minimal eps per defense) — the
verdicts' input; the runs' own ``examples.csv.gz`` are dropped (``keep_examples`` keeps them).

BatchNorm runs: the stored grid is run again with the same configuration (seed 0), its table must
match the stored ``results.csv`` count for count, and its per-image outcomes are written beside it
as ``outcomes.csv.gz``."""

from __future__ import annotations

import gzip
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

import hfc_robust as hr

from ...results.io import atomic_write_bytes
from ..rules import smoothing as rule

__all__ = ["OUTCOMES", "parse_cell", "compact_outcomes", "read_outcomes", "run_table2_paper", "rerun_bn_table2"]

OUTCOMES = "outcomes.csv.gz"


def parse_cell(cell: str) -> dict:
    """``dataset/model/defense/threat/attack/norm/eps=E`` -> its parts (eps as a float)."""
    dataset, model, defense, threat, attack, norm, eps = cell.split("/")
    return {"defense": defense, "threat": threat, "attack": attack, "eps": float(eps.split("=")[1])}


def column_name(defense: str, threat: str, attack: str, eps: float) -> str:
    return f"{defense}|{threat}|{attack}|{eps:.6f}"


def compact_outcomes(examples: pd.DataFrame) -> pd.DataFrame:
    """Per image (rows in index order): ``index``, ``label``, one 0/1 column per attacked or clean row
    (:func:`column_name`) and, where the run has minimal eps, ``mineps|<defense>|<threat>``."""
    columns: dict[str, np.ndarray] = {}
    first = None
    for cell, frame in examples.groupby("cell", sort=False):
        frame = frame.sort_values("index", kind="stable")
        first = frame if first is None else first
        part = parse_cell(str(cell))
        columns[column_name(part["defense"], part["threat"], part["attack"], part["eps"])] = frame["robust"].to_numpy(
            np.int8
        )
        if "min_eps" in frame and frame["min_eps"].notna().any():
            columns.setdefault(f"mineps|{part['defense']}|{part['threat']}", frame["min_eps"].to_numpy(np.float64))
    if first is None:
        raise ValueError("no cells in the examples table")
    return pd.DataFrame({"index": first["index"].to_numpy(), "label": first["label"].to_numpy(), **columns})


def _write_outcomes(path: Path, table: pd.DataFrame) -> None:
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as handle:  # byte-identical reruns
        handle.write(table.to_csv(index=False, lineterminator="\n", float_format="%.8g").encode())
    atomic_write_bytes(path, raw.getvalue())


def read_outcomes(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def _bench(model: str, dataset: str, out: Path, log: Callable[[str], None], **kwargs) -> pd.DataFrame:
    if (out / "results.csv").is_file() and (out / "examples.csv.gz").is_file():
        log(f"[table2] {out}: done, reused")
        return pd.read_csv(out / "examples.csv.gz")
    started = time.time()
    log(f"[table2] {model} -> {out} {kwargs}")
    hr.benchmark(model, dataset, out=out, overwrite=True, threads=1, seed=0, **kwargs)
    log(f"[table2] {out}: {time.time() - started:.0f}s")
    return pd.read_csv(out / "examples.csv.gz")


def run_table2_paper(
    model: str, dataset: str, out: Path, log: Callable[[str], None] = print, keep_examples: bool = False
) -> Path:
    folder = out / model
    if (folder / OUTCOMES).is_file():
        log(f"[table2] {folder / OUTCOMES}: done, skipped")
        return folder / OUTCOMES
    grid = _bench(
        model,
        dataset,
        folder / "grid",
        log,
        attacks=("fgsm", "pgd"),
        eps=rule.EPS,
        rhos=rule.RHOS,
        n=rule.N,
        min_eps=True,
        min_eps_max=rule.MIN_EPS_MAX,
    )
    strong = _bench(
        model,
        dataset,
        folder / "autoattack",
        log,
        attacks=("autoattack",),
        eps=rule.EPS,
        rhos=rule.RHOS,
        n=rule.AA_N[model],
    )
    table = compact_outcomes(grid)
    extra = compact_outcomes(strong)
    extra = extra.drop(columns=[c for c in extra.columns if c in table.columns and c not in ("index", "label")])
    table = table.merge(extra, on=["index", "label"], how="left")  # AutoAttack's columns empty beyond its images
    _write_outcomes(folder / OUTCOMES, table)
    if not keep_examples:
        for run in ("grid", "autoattack"):
            (folder / run / "examples.csv.gz").unlink(missing_ok=True)
    log(f"[table2] wrote {folder / OUTCOMES}")
    return folder / OUTCOMES


def rerun_bn_table2(
    run_folder: Path, model: str, dataset: str, normalize: bool, n: int, eps, rhos, log: Callable[[str], None] = print
) -> Path:
    """The stored BatchNorm grid of ``run_folder`` run again (same configuration, seed 0), checked
    count for count against its ``results.csv``; writes ``outcomes.csv.gz`` there."""
    path = run_folder / OUTCOMES
    if path.is_file():
        log(f"[table2] {path}: done, skipped")
        return path
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        hr.benchmark(
            model,
            dataset,
            attacks=("fgsm", "pgd"),
            eps=tuple(eps),
            rhos=tuple(rhos),
            n=n,
            smooth_normalize=normalize,
            seed=0,
            threads=1,
            out=Path(tmp) / "run",
        )
        fresh = pd.read_csv(Path(tmp) / "run" / "results.csv")
        stored = pd.read_csv(run_folder / "results.csv")
        key = ["defense", "rho", "attack", "eps", "threat_model"]
        merged = stored.merge(fresh, on=key, suffixes=("_stored", "_fresh"), how="outer")
        if merged["correct_fresh"].isna().any() or not (merged["correct_stored"] == merged["correct_fresh"]).all():
            raise RuntimeError(f"rerun of {run_folder} does not match its results.csv")
        table = compact_outcomes(pd.read_csv(Path(tmp) / "run" / "examples.csv.gz"))
    _write_outcomes(path, table)
    log(f"[table2] {path}: matches results.csv ({time.time() - started:.0f}s)")
    return path
