"""What every verdict module shares: the :class:`Verdict` of one claim (or one setting of it), the
verdict icons and the number formats of REPRODUCTION.md."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...results.stats import wilson_interval

__all__ = ["Verdict", "ICONS", "LEVELS", "pct", "points", "eps_text", "worst", "at_least"]

ICONS = {
    "reproduces": "✅ reproduces",
    "partially": "🟡 partially",
    "does not": "❌ does not",
    "not run": "⬜ not run",
    "not an experiment": "⬜ not an experiment",
}
LEVELS = ("does not", "partially", "reproduces")


@dataclass
class Verdict:
    """A verdict: ``claim`` (the claim's id, or its old wording for the earlier rules), ``setting``,
    ``number`` (what it rests on), ``verdict`` (a key of :data:`ICONS`), ``why``; ``details`` holds
    per-setting lines and ``old`` the verdict under the earlier rule, where the rule changed."""

    claim: str
    setting: str
    number: str
    verdict: str
    why: str
    details: list[str] = field(default_factory=list)
    old: str | None = None


def pct(correct: int, n: int) -> str:
    """``12.3% [10.4, 14.5] (123/1000)``: a proportion with its Wilson 95% interval."""
    low, high = wilson_interval(int(correct), int(n))
    return f"{100 * correct / n:.1f}% [{100 * low:.1f}, {100 * high:.1f}] ({int(correct)}/{int(n)})"


def points(mean: float, low: float, high: float) -> str:
    """A difference of fractions in percentage points with its interval: ``+3.1 [+1.2, +5.0]``."""
    return f"{100 * mean:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"


def eps_text(eps: float) -> str:
    """An L-inf eps as ``8/255`` when it is a whole number of 1/255 steps, else ``0.03``."""
    scaled = eps * 255
    if abs(scaled - round(scaled)) < 1e-6:
        return "0" if round(scaled) == 0 else f"{round(scaled)}/255"
    return f"{eps:.4g}"


def worst(verdicts: list[str]) -> str:
    """The lowest of several reproduces / partially / does not."""
    return min(verdicts, key=LEVELS.index)


def at_least(verdicts: list[str], level: str) -> int:
    """How many of ``verdicts`` are ``level`` or better."""
    return sum(LEVELS.index(v) >= LEVELS.index(level) for v in verdicts)
