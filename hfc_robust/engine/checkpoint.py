"""Per-example outcomes of every cell, one chunk per batch: held in memory, or appended to a
folder that doubles as the run's checkpoint.

A folder store writes ``meta.json`` (what run the chunks belong to) and one
``chunk-<first row>.npz`` per finished batch, each atomically; nothing already written is
ever rewritten, so a checkpoint costs O(batch) bytes per batch. Inside a slow batch, finished
attack runs are saved as ``units-<first row>-<unit>.npz`` at least every 30 s of work and
removed once the batch's chunk is written, so a crash loses at most about 30 s of work. A run with
the same key resumes after the last contiguous chunk; a
folder written by a different run is cleared. Columns are read back one at a time, so the
memory needed to write tables and ``examples.csv.gz`` does not grow with the grid.
Chunks hold plain integer arrays (``numpy.load(allow_pickle=False)``): no code is ever
loaded from a checkpoint.

Every chunk and unit file carries the SHA-256 of its arrays (:data:`CHECKSUM`). Opening a
folder verifies each file; a damaged one (truncated by a full disk, cut short by a copy,
altered) is removed with one ``warning:`` line naming it, and its batch is computed again.
Files written before checksums existed are accepted when they read back whole.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ..errors import HfcWarning
from ..results.io import atomic_write_bytes, atomic_write_text

__all__ = ["OutcomeStore", "Chunk", "array_name", "CHECKSUM", "chunk_digest"]

Chunk = dict[str, np.ndarray]

CHECKSUM = "__sha256__"  # the array of a chunk or unit file holding the SHA-256 of the others


def chunk_digest(arrays: Chunk) -> np.ndarray:
    """SHA-256 (32 uint8) of arrays: per name in sorted order, the name, dtype and shape as text
    and the array's bytes (C order)."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}\n{array.dtype.str} {array.shape}\n".encode())
        digest.update(array.tobytes())
    return np.frombuffer(digest.digest(), dtype=np.uint8).copy()


def _pack(arrays: Chunk) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{**arrays, CHECKSUM: chunk_digest(arrays)})  # type: ignore[arg-type]
    return buffer.getvalue()


def _damage(path: Path) -> str | None:
    """Why the file at ``path`` cannot be trusted, or None when it reads back whole and matches its checksum."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        return f"unreadable: {type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}".rstrip(": ")
    stored = arrays.pop(CHECKSUM, None)
    if stored is not None and not np.array_equal(stored, chunk_digest(arrays)):
        return "its SHA-256 does not match its contents"
    return None


def array_name(kind: str, position: int) -> str:
    """A chunk array's name: ``kind`` is ``adv`` (predicted class), ``robust``, ``spec``, ``specn`` or
    ``inband`` (perturbation spectrum sums) or ``seconds`` (a cascade stage's wall time, in a unit
    saved inside a slow batch) of the cell at ``position`` in table order, or ``clean``
    (clean predictions) or ``mineps`` of the defense at ``position``; in a corruption run, ``pred``
    (predicted class) of a cell and ``cspec`` (spectrum sums) of a (corruption, severity). Names are
    only ever built, never parsed back."""
    return f"{kind}{position}"


class OutcomeStore:
    """Chunks of per-example arrays, keyed by the position of their first row in the dataset."""

    def __init__(self, folder: Path | str | None = None, key: str = "") -> None:
        self.folder = Path(folder) if folder is not None else None
        self.key = key
        self._memory: dict[int, Chunk] = {}
        self._starts: list[int] = []
        if self.folder is not None:
            self._open()

    def _open(self) -> None:
        assert self.folder is not None
        meta = self.folder / "meta.json"
        try:
            same = json.loads(meta.read_text()).get("key") == self.key
        except (OSError, ValueError):
            same = False
        if not same and self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        if not same:
            atomic_write_text(meta, json.dumps({"key": self.key}) + "\n")
        for path in sorted([*self.folder.glob("chunk-*.npz"), *self.folder.glob("units-*.npz")]):
            reason = _damage(path)
            if reason is not None:
                what = "its batch" if path.name.startswith("chunk-") else "its attack runs"
                warnings.warn(
                    f"checkpoint file {path} is damaged ({reason}); removed, {what} will be computed again",
                    HfcWarning,
                    stacklevel=2,
                )
                path.unlink()
        self._starts = sorted(int(p.stem.split("-")[1]) for p in self.folder.glob("chunk-*.npz"))

    def _path(self, start: int) -> Path:
        assert self.folder is not None
        return self.folder / f"chunk-{start:010d}.npz"

    @property
    def starts(self) -> list[int]:
        return list(self._starts)

    def done_rows(self, first: int = 0) -> int:
        """Rows finished contiguously from ``first`` (where a resumed run continues)."""
        position = first
        for start in self._starts:
            if start != position:
                break
            position += len(self.read(start, "index"))
        return position - first

    def append(self, start: int, chunk: Chunk) -> None:
        if self.folder is None:
            self._memory[start] = {name: np.asarray(array) for name, array in chunk.items()}
        else:
            atomic_write_bytes(self._path(start), _pack(chunk))
        if start not in self._starts:
            self._starts = sorted(self._starts + [start])

    def read(self, start: int, name: str) -> np.ndarray:
        if self.folder is None:
            return self._memory[start][name]
        with np.load(self._path(start), allow_pickle=False) as archive:
            return archive[name]

    def chunk(self, start: int) -> Chunk:
        """Every array of one chunk."""
        if self.folder is None:
            return dict(self._memory[start])
        with np.load(self._path(start), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files if name != CHECKSUM}

    @classmethod
    def existing(cls, folder: Path | str) -> OutcomeStore | None:
        """A folder's chunks under the key its ``meta.json`` records (read as they are, never cleared);
        None when the folder holds no store."""
        try:
            key = json.loads((Path(folder) / "meta.json").read_text())["key"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return cls(folder, key)

    def column(self, name: str) -> np.ndarray:
        """One array, concatenated over every chunk in row order."""
        parts = [self.read(start, name) for start in self._starts]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def save_unit(self, start: int, unit: int, arrays: Chunk) -> None:
        """Outcomes of finished units of the batch starting at ``start`` (names ``u<unit>:<array>``),
        saved while the batch is still running; folder stores only."""
        if self.folder is None:
            return
        atomic_write_bytes(self.folder / f"units-{start:010d}-{unit:05d}.npz", _pack(arrays))

    def units(self, start: int) -> dict[int, Chunk]:
        """``{unit: arrays}`` saved for the batch starting at ``start`` by an interrupted run."""
        if self.folder is None:
            return {}
        found: dict[int, Chunk] = {}
        for path in sorted(self.folder.glob(f"units-{start:010d}-*.npz")):
            with np.load(path, allow_pickle=False) as archive:
                for name in archive.files:
                    if name == CHECKSUM:
                        continue
                    unit, array = name.split(":", 1)
                    found.setdefault(int(unit[1:]), {})[array] = archive[name]
        return found

    def drop_units(self, start: int) -> None:
        """Remove a batch's unit files once its chunk is written."""
        if self.folder is not None:
            for path in self.folder.glob(f"units-{start:010d}-*.npz"):
                path.unlink()

    def clear(self) -> None:
        """Drop every chunk and unit (the run starts over under the same key)."""
        if self.folder is not None:
            for path in [*self.folder.glob("chunk-*.npz"), *self.folder.glob("units-*.npz")]:
                path.unlink()
        self._memory.clear()
        self._starts = []

    def remove(self) -> None:
        """Delete the folder: only once the results it holds have been written elsewhere."""
        if self.folder is not None and self.folder.exists():
            shutil.rmtree(self.folder)
