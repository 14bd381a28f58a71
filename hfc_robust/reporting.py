"""Reporting: tables (Markdown, LaTeX, CSV, rich), run directories and provenance.

Every file is written atomically (temporary file, then ``os.replace``), so a crash or
Ctrl-C never leaves a half-written result.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .harness import defense_label
from .parsing import format_eps

__all__ = ["atomic_write_bytes", "atomic_write_text", "markdown_table", "write_run", "provenance", "versions",
           "display_frame", "print_table", "read_results"]

FLOAT_FORMAT = "%.6f"


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def versions() -> dict[str, str]:
    import numpy
    import torch
    import torchattacks

    from . import __version__

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


def display_frame(table: pd.DataFrame) -> pd.DataFrame:
    """Human-readable view: eps as k/255, accuracy and CI in percent."""
    view = pd.DataFrame({
        "defense": [defense_label(row) for _, row in table.iterrows()],
        "threat": table["threat_model"],
        "attack": table["attack"],
        "eps": table["eps"].map(format_eps),
        "correct/n": [f"{c}/{n}" for c, n in zip(table["correct"], table["n"])],
        "acc %": table["accuracy"].map(lambda v: f"{100 * v:.1f}"),
        "95% CI": [f"{100 * lo:.1f}-{100 * hi:.1f}" for lo, hi in zip(table["ci_low"], table["ci_high"])],
    })
    return view


def markdown_table(table: pd.DataFrame, title: str | None = None, note: str | None = None) -> str:
    view = display_frame(table)
    lines = []
    if title:
        lines += [f"# {title}", ""]
    if note:
        lines += [note, ""]
    lines.append("| " + " | ".join(view.columns) + " |")
    lines.append("|" + "|".join("---" for _ in view.columns) + "|")
    for row in view.itertuples(index=False):
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _sample_note(run: dict) -> str:
    dataset = run.get("dataset", {})
    config = run.get("config", {})
    steps = config.get("steps")
    alpha = config.get("alpha")
    step_text = f"{format_eps(alpha)}" if alpha else "eps/4"
    return (f"Dataset {dataset.get('name')} ({dataset.get('source')}), {dataset.get('sample')}, n = {dataset.get('n')}. "
            f"Model {run.get('model', {}).get('name')} (sha256 {str(run.get('model', {}).get('sha256'))[:12]}). "
            f"PGD: {steps} steps of {step_text}, {config.get('restarts')} restart(s), {config.get('loss')} loss, "
            f"seed {config.get('seed')}. Headline = adaptive (attack crafted through the defense); oblivious = crafted "
            f"on the bare model. Accuracy with Wilson 95% CI.")


def _examples_gzip(examples: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    # mtime=0 keeps the archive byte-identical across runs with the same seed
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as handle:
        handle.write(examples.to_csv(index=False, lineterminator="\n").encode())
    return buffer.getvalue()


def write_run(out_dir: Path | str, table: pd.DataFrame, run: dict, examples: pd.DataFrame | None = None,
              checks: Iterable | None = None) -> list[Path]:
    """Write results.csv, results.md, run.json (and examples.csv.gz, checks.json) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    csv_text = table.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    atomic_write_text(out / "results.csv", csv_text)
    written.append(out / "results.csv")
    title = f"hfc-robust: {run.get('model', {}).get('name')} on {run.get('dataset', {}).get('name')}"
    atomic_write_text(out / "results.md", markdown_table(table, title, _sample_note(run)))
    written.append(out / "results.md")
    if examples is not None and len(examples):
        atomic_write_bytes(out / "examples.csv.gz", _examples_gzip(examples))
        written.append(out / "examples.csv.gz")
    if checks is not None:
        checks_list = [c.to_dict() if hasattr(c, "to_dict") else dict(c) for c in checks]
        atomic_write_text(out / "checks.json", json.dumps(checks_list, indent=2) + "\n")
        written.append(out / "checks.json")
    atomic_write_text(out / "run.json", json.dumps(run, indent=2, sort_keys=True, default=str) + "\n")
    written.append(out / "run.json")
    return written


def read_results(path: Path | str) -> tuple[pd.DataFrame, dict, Path | None]:
    """Load ``results.csv`` (and ``run.json`` beside it) from a run directory or a CSV path."""
    from .errors import HfcError

    path = Path(path)
    csv_path = path / "results.csv" if path.is_dir() else path
    if not csv_path.is_file():
        raise HfcError(f"no results.csv at {path}", "pass a run directory written by `hfc-robust bench` or a results.csv")
    try:
        table = pd.read_csv(csv_path)
    except Exception as exc:
        raise HfcError(f"{csv_path} is not a readable CSV ({type(exc).__name__})", "pass a results.csv written by hfc-robust") from None
    missing = {"dataset", "model", "defense", "attack", "eps", "threat_model", "n", "correct", "accuracy"} - set(table.columns)
    if missing:
        raise HfcError(f"{csv_path} lacks columns {sorted(missing)}", "pass a results.csv written by hfc-robust")
    run_path = csv_path.parent / "run.json"
    run = json.loads(run_path.read_text()) if run_path.is_file() else {}
    return table, run, csv_path.parent


def print_table(table: pd.DataFrame, console=None, title: str | None = None, checks: Iterable | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    view = display_frame(table)
    rich_table = Table(title=title, show_lines=False)
    for column in view.columns:
        rich_table.add_column(column, justify="right" if column in ("acc %", "correct/n", "eps") else "left", no_wrap=True)
    for row, threat in zip(view.itertuples(index=False), table["threat_model"]):
        style = "bold" if threat == "adaptive" else None
        rich_table.add_row(*[str(v) for v in row], style=style)
    console.print(rich_table)
    if checks is not None:
        marks = {"pass": "[green]PASS[/]", "warn": "[yellow]WARN[/]", "fail": "[red]FAIL[/]"}
        console.print("[bold]Sanity checks[/]")
        for check in checks:
            console.print(f"  {marks.get(check.status, check.status)} {check.name}: {check.detail}", highlight=False)
