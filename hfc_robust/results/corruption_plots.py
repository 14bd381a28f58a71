"""Figures of a corruption run (matplotlib, no torch).

* ``corruption_tradeoff.png``, the plot that answers Yin et al.'s question for a low-pass
  defense: one panel per radius r; one point per corruption at (share of the corruption's
  change to the image inside r, accuracy change from the defense in points), both averaged over
  severities; the dashed line is the defense's change in clean accuracy. A trade-off shows as
  points above the line on the left (high-frequency corruptions the filter removes) and below it
  on the right (low-frequency corruptions it lets through). Spearman's rank correlation is in
  each panel's title.
* ``corruption_spectra.png``: the share of each corruption's change inside radius r as a function
  of r (mask ``<= r``; mean over severities), one panel per family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .plots import png_bytes, subplots

__all__ = ["TRADEOFF_PLOT", "SPECTRA_PLOT", "plot_tradeoff", "plot_corruption_spectra", "cumulative_share"]

TRADEOFF_PLOT = "corruption_tradeoff.png"
SPECTRA_PLOT = "corruption_spectra.png"
_FAMILY_COLOURS = {"noise": "tab:red", "blur": "tab:blue", "weather": "tab:green", "digital": "tab:purple"}


def plot_tradeoff(summary: pd.DataFrame, title: str = "") -> bytes | None:
    """PNG bytes of the trade-off plot from :func:`~hfc_robust.results.corruptions.corruption_summary`'s
    table; None without low-pass rows."""
    from scipy import stats

    per = summary[(summary["corruption"] != "all") & summary["radius"].notna()]
    if per.empty:
        return None
    clean_none = float(summary.loc[(summary["defense"] == "none") & (summary["corruption"] == "all"), "clean_accuracy"].iloc[0])
    defenses = list(dict.fromkeys(per["defense"]))
    cols = min(len(defenses), 2)
    rows_n = -(-len(defenses) // cols)
    fig, axes = subplots(rows_n, cols, figsize=(5.6 * cols, 4.4 * rows_n), squeeze=False, sharey=True)
    for ax, defense in zip(axes.flat, defenses):
        mine = per[per["defense"] == defense]
        x, y = mine["energy_inside_radius"].to_numpy(float), 100 * mine["accuracy_change"].to_numpy(float)
        for family, colour in _FAMILY_COLOURS.items():
            pick = (mine["family"] == family).to_numpy()
            ax.scatter(x[pick], y[pick], color=colour, label=family, s=28, zorder=3)
        for xi, yi, name in zip(x, y, mine["corruption"]):
            ax.annotate(str(name).replace("_", " "), (xi, yi), fontsize=6.5, xytext=(3, 2), textcoords="offset points")
        clean = 100 * (float(mine["clean_accuracy"].iloc[0]) - clean_none)
        ax.axhline(clean, color="0.3", linestyle="--", linewidth=1, label=f"clean accuracy change ({clean:+.1f})")
        ax.axhline(0, color="0.6", linewidth=0.8)
        finite = np.isfinite(x) & np.isfinite(y)
        rho = stats.spearmanr(x[finite], y[finite]).statistic if finite.sum() >= 3 else float("nan")
        ax.set_title(f"{defense}: Spearman rho = {rho:.2f}", fontsize=10)
        ax.set_xlabel(f"share of the corruption's energy inside r = {float(mine['radius'].iloc[0]):g}")
        ax.set_xlim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy change from the defense (points)")
    for ax in list(axes.flat)[len(defenses):]:
        ax.set_visible(False)
    fig.suptitle(f"{title}: accuracy change vs the corruption's low-frequency share (means over severities)", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


def cumulative_share(spectrum: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """The share of each centred spectrum's (... x H x W) energy at distance <= r from the centre
    ``(H // 2, W // 2)``, for every r in ``radii`` (... x R); NaN for an all-zero spectrum."""
    height, width = spectrum.shape[-2:]
    distance = np.hypot(*np.meshgrid(np.arange(height) - height // 2, np.arange(width) - width // 2, indexing="ij"))
    flat = spectrum.reshape(-1, height * width)
    total = flat.sum(axis=1)
    inside = np.stack([flat[:, (distance <= r).ravel()].sum(axis=1) for r in radii], axis=1)
    share = np.divide(inside, total[:, None], out=np.full(inside.shape, np.nan), where=total[:, None] > 0)
    return share.reshape(*spectrum.shape[:-2], len(radii))


def plot_corruption_spectra(arrays: dict, radii: list[float], title: str = "") -> bytes:
    """PNG bytes: the energy share inside r against r per corruption (mean over severities), by family."""
    from ..corruptions.registry import CORRUPTIONS, FAMILIES

    spectrum = arrays["spectrum"]
    height, width = spectrum.shape[-2:]
    grid = np.linspace(0.0, float(np.hypot(height // 2, width // 2)), 80)
    shares = cumulative_share(spectrum, grid)
    names = list(dict.fromkeys(arrays["corruption"].tolist()))
    fig, axes = subplots(1, len(FAMILIES), figsize=(4.0 * len(FAMILIES), 3.4), squeeze=False, sharey=True)
    for ax, family in zip(axes.flat, FAMILIES):
        members = [n for n in names if CORRUPTIONS[n].family == family]
        for name in members:
            pick = arrays["corruption"] == name
            ax.plot(grid, np.nanmean(shares[pick], axis=0), label=name.replace("_", " "), linewidth=1.5)
        for radius in radii:
            ax.axvline(radius, color="0.4", linestyle=":", linewidth=1)
        ax.set_title(family)
        ax.set_xlabel("radius r (frequency bins)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        if members:
            ax.legend(fontsize=7, loc="lower right")
    axes[0, 0].set_ylabel("share of |FFT(x_c - x)|^2 inside r")
    fig.suptitle(f"{title}: where each corruption's change to the image lies in the spectrum", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)
