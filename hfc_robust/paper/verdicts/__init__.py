"""The verdicts of REPRODUCTION.md: one module per experiment applying its rule from
:mod:`hfc_robust.paper.rules` to the stored numbers (no training, no attacks), the earlier rules
(:mod:`.legacy`), the tables and figures (:mod:`.tables`, :mod:`.figures`) and the document
(:mod:`.report`)."""

from .core import ICONS, Verdict, eps_text, pct
from .legacy import (
    HEADLINE_EPS,
    TABLE2_EPS,
    TABLE2_RHOS,
    VERDICT_RULES,
    at_verdict,
    smoothing_verdicts,
    spectrum_verdict,
    table1_verdicts,
)
from .tables import (
    spectrum_summary_figure,
    spectrum_summary_markdown,
    table1_figure,
    table1_markdown,
    table2_figure,
    table2_markdown,
)

__all__ = [
    "ICONS",
    "Verdict",
    "eps_text",
    "pct",
    "HEADLINE_EPS",
    "TABLE2_EPS",
    "TABLE2_RHOS",
    "VERDICT_RULES",
    "at_verdict",
    "smoothing_verdicts",
    "spectrum_verdict",
    "table1_verdicts",
    "spectrum_summary_figure",
    "spectrum_summary_markdown",
    "table1_figure",
    "table1_markdown",
    "table2_figure",
    "table2_markdown",
]
