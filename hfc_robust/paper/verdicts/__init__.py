"""The verdicts of REPRODUCTION.md: one module per experiment applying its rule from
:mod:`hfc_robust.paper.rules` to the stored numbers (no training, no attacks), the earlier rules
(:mod:`.legacy`), the tables and figures (:mod:`.tables`, :mod:`.figures`) and the document
(:mod:`.report`)."""

from .core import ICONS, Verdict, eps_text, pct  # noqa: F401
from .legacy import (HEADLINE_EPS, TABLE2_EPS, TABLE2_RHOS, VERDICT_RULES, at_verdict, smoothing_verdicts,  # noqa: F401
                     spectrum_verdict, table1_verdicts)
from .tables import (spectrum_summary_figure, spectrum_summary_markdown, table1_figure, table1_markdown,  # noqa: F401
                     table2_figure, table2_markdown)
