"""Files of a run directory: atomic writes, writing and reading results, run.json.

Every file is written atomically (temporary file, fsync, then ``os.replace``), so a crash or
Ctrl-C never leaves a half-written result. Files get mode 0666 less the process umask
(0644 under the usual umask 022), like any file the user creates.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from ..errors import HfcError
from .citable import check_dicts
from .record import validate_run_record
from .render import FLOAT_FORMAT, headline_lines, markdown_table, sample_note

__all__ = [
    "atomic_writer",
    "atomic_write_bytes",
    "atomic_write_text",
    "npz_bytes",
    "write_examples",
    "write_run",
    "read_results",
    "read_checks_json",
    "load_run_json",
    "write_run_json",
    "run_json_text",
    "FLOAT_FORMAT",
    "RUN_FILES",
]

RUN_FILES = ("results.csv", "results.md", "examples.csv.gz", "checks.json", "run.json")  # what write_run writes


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_writer(path: Path | str) -> Iterator[BinaryIO]:
    """A binary file handle whose content appears at ``path`` only when the block ends without
    an error: written to a temporary file beside it, fsynced, given mode 0666 less the umask,
    then renamed over ``path``. Nothing is left behind on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _file_mode())  # mkstemp creates 0600; a result file is as readable as any other
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    with atomic_writer(path) as handle:
        handle.write(data)


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` archive (readable by ``numpy.load(allow_pickle=False)``) whose bytes depend only on
    the arrays: entries in the given order, a fixed date (1980-01-01) and fixed permissions, where
    ``numpy.savez`` stamps the current time. Object arrays are refused."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, value in arrays.items():
            array = np.asanyarray(value)
            if array.dtype == object:
                raise ValueError(f"npz entry {name!r} is an object array")
            entry = io.BytesIO()
            np.lib.format.write_array(entry, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            archive.writestr(info, entry.getvalue())
    return buffer.getvalue()


def write_examples(path: Path | str, frames: Iterable[pd.DataFrame]) -> bool:
    """Stream per-example frames (one per cell) into a gzipped CSV, atomically; False when empty.

    ``mtime=0`` and no file name in the header keep the archive byte-identical across runs."""
    wrote = False
    with atomic_writer(path) as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as handle:
        for frame in frames:
            if len(frame):
                handle.write(frame.to_csv(index=False, header=not wrote, lineterminator="\n").encode())
                wrote = True
    if not wrote:
        Path(path).unlink()
    return wrote


def write_run(
    out_dir: Path | str,
    table: pd.DataFrame,
    run: dict,
    examples: pd.DataFrame | Iterable[pd.DataFrame] | None = None,
    checks: Iterable | None = None,
) -> list[Path]:
    """Write results.csv, results.md, run.json (and examples.csv.gz, checks.json) into ``out_dir``.

    ``examples`` is one DataFrame or an iterable of them (one per cell, streamed to disk)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    csv_text = table.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    atomic_write_text(out / "results.csv", csv_text)
    written.append(out / "results.csv")
    title = f"hfc-robust: {run.get('model', {}).get('name')} on {run.get('dataset', {}).get('name')}"
    checks_list = check_dicts(checks)
    atomic_write_text(
        out / "results.md", markdown_table(table, title, sample_note(run), headline_lines(table, checks_list, run))
    )
    written.append(out / "results.md")
    if examples is not None:
        frames = [examples] if isinstance(examples, pd.DataFrame) else examples
        if write_examples(out / "examples.csv.gz", frames):
            written.append(out / "examples.csv.gz")
    if checks_list is not None:
        atomic_write_text(out / "checks.json", json.dumps(checks_list, indent=2) + "\n")
        written.append(out / "checks.json")
    written.append(write_run_json(out, run))
    return written


def run_json_text(run: dict, where: str = "run.json") -> str:
    """run.json's text: the record checked against the schema (:class:`~hfc_robust.results.record.RunRecord`),
    keys sorted, two-space indents."""
    return json.dumps(validate_run_record(run, where), indent=2, sort_keys=True) + "\n"


def write_run_json(out_dir: Path | str, run: dict) -> Path:
    """Write ``out_dir/run.json`` (:func:`run_json_text`) atomically; its path."""
    path = Path(out_dir) / "run.json"
    atomic_write_text(path, run_json_text(run, str(path)))
    return path


def read_results(path: Path | str) -> tuple[pd.DataFrame, dict, Path]:
    """Load ``results.csv`` (and ``run.json`` beside it) from a run directory or a CSV path."""

    path = Path(path)
    csv_path = path / "results.csv" if path.is_dir() else path
    if not csv_path.is_file():
        raise HfcError(
            f"no results.csv at {path}", "pass a run directory written by `hfc-robust bench` or a results.csv"
        )
    try:
        table = pd.read_csv(csv_path)
    except Exception as exc:
        raise HfcError(
            f"{csv_path} is not a readable CSV ({type(exc).__name__})", "pass a results.csv written by hfc-robust"
        ) from None
    missing = {"dataset", "model", "defense", "attack", "eps", "threat_model", "n", "correct", "accuracy"} - set(
        table.columns
    )
    if missing:
        raise HfcError(f"{csv_path} lacks columns {sorted(missing)}", "pass a results.csv written by hfc-robust")
    run_path = csv_path.parent / "run.json"
    run = _read_run_json(run_path) if run_path.is_file() else {}
    return table, run, csv_path.parent


def read_checks_json(directory: Path | str | None) -> list[dict] | None:
    """checks.json of a run directory as written (name, status, detail, data); None when it has none."""
    path = Path(directory) / "checks.json" if directory is not None else None
    if path is None or not path.is_file():
        return None
    try:
        checks = json.loads(path.read_text())
    except ValueError:
        raise HfcError(f"{path} is not readable JSON", "restore it from the original run or delete it") from None
    if not isinstance(checks, list):
        raise HfcError(f"{path} is not a list of checks", "restore it from the original run or delete it")
    return [check for check in checks if isinstance(check, dict)]


def load_run_json(run_dir: Path | str) -> dict:
    """The run directory's run.json; HfcError when it is missing, unreadable or lacks ``config``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HfcError(f"no run directory at {run_dir}", "pass a directory written by `hfc-robust bench --out DIR`")
    path = run_dir / "run.json"
    if not path.is_file():
        raise HfcError(
            f"{run_dir} has no run.json, so the run cannot be repeated",
            "pass a directory written by `hfc-robust bench --out DIR`",
        )
    run = _read_run_json(path)
    if not isinstance(run.get("config"), dict):
        raise HfcError(
            f"{path} has no 'config' record, so the run cannot be repeated",
            "re-create the run with `hfc-robust bench`, which records it",
        )
    return run


def _read_run_json(path: Path) -> dict:
    """A run.json read through the schema; HfcError, one line, when it is unreadable or does not fit."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise HfcError(
            f"{path} is not readable JSON ({type(exc).__name__})", "restore it from the original run"
        ) from None
    return validate_run_record(record, str(path))
