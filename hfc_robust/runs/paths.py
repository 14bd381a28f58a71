"""Paths in run.json: relative to the run folder, so a committed run folder names no machine's
absolute paths and ``hfc-robust rerun`` finds its data and weights from any working directory.

* files inside the installed hfc_robust package (packaged weights) are written
  ``<hfc_robust>/models/weights/...``;
* URLs are kept as they are;
* every other path is written relative to the run folder (``../data/x.npz``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["portable_path", "resolve_path", "portable_dataset", "resolve_dataset", "PACKAGE_MARK", "PATH_PREFIXES"]

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_MARK = "<hfc_robust>"
PATH_PREFIXES = ("npz:", "imagefolder:")  # dataset names whose rest is a path


def _is_url(text: str) -> bool:
    return "://" in text


def portable_path(path: str | os.PathLike | None, base: Path | str) -> str | None:
    """``path`` as run.json records it for a run folder at ``base`` (see the module docstring)."""
    if path is None:
        return None
    text = os.fspath(path)
    if _is_url(text):
        return text
    absolute = Path(text).expanduser().resolve()
    try:
        return f"{PACKAGE_MARK}/{absolute.relative_to(PACKAGE_ROOT).as_posix()}"
    except ValueError:
        return Path(os.path.relpath(absolute, Path(base).resolve())).as_posix()


def resolve_path(recorded: str | None, base: Path | str) -> str | None:
    """The inverse of :func:`portable_path`: an absolute path (or the URL) for this machine."""
    if recorded is None:
        return None
    if _is_url(recorded):
        return recorded
    if recorded.startswith(PACKAGE_MARK + "/"):
        return str(PACKAGE_ROOT / recorded[len(PACKAGE_MARK) + 1 :])
    path = Path(recorded).expanduser()
    return str(path if path.is_absolute() else (Path(base) / path).resolve())


def portable_dataset(name: str, base: Path | str) -> str:
    """A dataset name with its path part (``npz:PATH``, ``imagefolder:PATH``) made portable."""
    for prefix in PATH_PREFIXES:
        if name.startswith(prefix) and name[len(prefix) :].strip():
            return prefix + str(portable_path(name[len(prefix) :], base))
    return name


def resolve_dataset(name: str, base: Path | str) -> str:
    for prefix in PATH_PREFIXES:
        if name.startswith(prefix) and name[len(prefix) :].strip():
            return prefix + str(resolve_path(name[len(prefix) :], base))
    return name
