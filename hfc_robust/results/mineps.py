"""``min_eps.csv`` and ``min_eps_curve.png`` of a ``--min-eps`` run (no torch).

Input: one row per (defense, threat, example) with its minimal PGD eps ([0, 1] pixel scale;
0 for an example misclassified clean, ``inf`` when PGD at the maximum eps failed). The robust
accuracy at eps is the share of examples whose minimal eps is larger: ``curve(e) = #{m > e} / n``.
Quartiles are taken over all n examples without interpolation (the smallest value m such
that at least a share q of the examples have a minimal eps <= m; numpy's ``inverted_cdf``),
so they may be ``inf`` when more than 1 - q of the examples were not broken.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .io import atomic_write_bytes, atomic_write_text
from ..threat import Norm
from .labels import defense_key, row_norm
from .render import FLOAT_FORMAT

__all__ = ["MIN_EPS_CSV", "MIN_EPS_PLOT", "MIN_EPS_COLUMNS", "robust_curve", "min_eps_table", "write_min_eps"]

MIN_EPS_CSV = "min_eps.csv"
MIN_EPS_PLOT = "min_eps_curve.png"
MIN_EPS_COLUMNS = ["defense", "threat_model", "n", "clean_wrong", "broken", "not_broken", "max_eps", "q1", "median", "q3",
                   "q1_255", "median_255", "q3_255"]


def robust_curve(min_eps: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Robust examples (count) at each eps of ``eps``: those whose minimal eps is larger."""
    values = np.sort(np.asarray(min_eps, dtype=np.float64))
    return len(values) - np.searchsorted(values, np.asarray(eps, dtype=np.float64), side="right")


def min_eps_table(per_example: pd.DataFrame, max_eps: float) -> pd.DataFrame:
    """One row per (defense, threat): counts and the quartiles of the minimal eps ([0, 1] scale and x255)."""
    rows = []
    for (defense, threat), group in per_example.groupby(["defense", "threat_model"], sort=False):
        values = group["min_eps"].to_numpy(np.float64)
        q1, median, q3 = (np.quantile(values, q, method="inverted_cdf") if len(values) else np.nan
                          for q in (0.25, 0.5, 0.75))
        rows.append(dict(defense=defense, threat_model=threat, n=len(values), clean_wrong=int((values == 0).sum()),
                         broken=int(((values > 0) & np.isfinite(values)).sum()), not_broken=int(np.isinf(values).sum()),
                         max_eps=float(max_eps), q1=q1, median=median, q3=q3, q1_255=q1 * 255, median_255=median * 255,
                         q3_255=q3 * 255))
    return pd.DataFrame(rows, columns=MIN_EPS_COLUMNS)


def write_min_eps(per_example: pd.DataFrame, table: pd.DataFrame, max_eps: float, out_dir: Path | str) -> list[Path]:
    """Write min_eps.csv and min_eps_curve.png (the curve per (defense, threat), with the run's
    fixed-eps ``pgd`` rows of the same pair as markers); the paths written."""
    out = Path(out_dir)
    summary = min_eps_table(per_example, max_eps)
    atomic_write_text(out / MIN_EPS_CSV, summary.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n"))
    atomic_write_bytes(out / MIN_EPS_PLOT, plot_min_eps(per_example, table, max_eps))
    return [out / MIN_EPS_CSV, out / MIN_EPS_PLOT]


def plot_min_eps(per_example: pd.DataFrame, table: pd.DataFrame, max_eps: float) -> bytes:
    from .plots import _STYLE, png_bytes, subplots  # matplotlib's Agg backend is set there

    fig, ax = subplots(figsize=(6.4, 4.2))
    norms = [row_norm(row) for _, row in table.iterrows()]
    norm = norms[0] if norms else Norm.LINF
    scale = Norm.parse(norm).eps_axis_scale
    grid = np.linspace(0.0, max_eps, 513)
    styles = ["-", "--", ":", "-."]
    for k, ((defense, threat), group) in enumerate(per_example.groupby(["defense", "threat_model"], sort=False)):
        values = group["min_eps"].to_numpy(np.float64)
        colour = _STYLE[threat]["color"]
        ax.step(scale * grid, 100 * robust_curve(values, grid) / max(len(values), 1), where="post", color=colour,
                linestyle=styles[k % len(styles)], linewidth=1.8, label=f"{defense} {threat} (min eps, n={len(values)})")
        if "cell" in table.columns:
            defenses = np.array([defense_key(row) for _, row in table.iterrows()], dtype=object)
            fixed = table[(defenses == defense) & (table["threat_model"] == threat) & (table["attack"] == "pgd")]
            ax.plot(scale * fixed["eps"], 100 * fixed["accuracy"], linestyle="none", marker="o", color=colour,
                    markerfacecolor="white", label=f"{defense} {threat} pgd rows")
    ax.set_xlabel(Norm.parse(norm).eps_axis_label)
    ax.set_ylabel("robust accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"robust accuracy vs {Norm.parse(norm).label} eps from per-example minimal eps (PGD bisection)")
    fig.tight_layout()
    return png_bytes(fig)
