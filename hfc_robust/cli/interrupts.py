"""Ctrl-C: exit 130 with one line saying what was saved and how to resume.

click turns a KeyboardInterrupt into ``Abort`` ("aborted", exit 1) before our handler sees it,
so commands convert it into :class:`Interrupted` first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

__all__ = ["Interrupted", "interrupted_run"]


class Interrupted(Exception):
    """Ctrl-C, with the message to print (exit 130)."""


@contextlib.contextmanager
def interrupted_run(out: Path) -> Iterator[None]:
    """Inside the block, Ctrl-C becomes :class:`Interrupted` naming the checkpoint left in ``out``."""
    try:
        yield
    except KeyboardInterrupt:
        saved = sorted(p.name for p in out.glob(".partial*")) if out.is_dir() else []
        if saved:
            raise Interrupted(
                f"interrupted: finished batches are saved in {out}/{', '.join(saved)}; run the same "
                "command again to resume from them"
            ) from None
        raise Interrupted(
            "interrupted before the first batch finished, so nothing was saved; run the same command "
            "again to start over"
        ) from None
