"""User-facing errors: one line naming the problem and the fix; the CLI exits 2 on them."""

from __future__ import annotations


class HfcError(Exception):
    """Bad input or environment. ``str(err)`` is a single line: what is wrong, then how to fix it."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        message = problem if fix is None else f"{problem} — {fix}"
        super().__init__(" ".join(message.split()))


class HfcWarning(UserWarning):
    """A setting that runs but does nothing useful (e.g. a low-pass radius that keeps every
    frequency). The CLI prints it as one ``warning:`` line on stderr."""
