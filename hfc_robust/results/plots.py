"""Accuracy-vs-eps and accuracy-vs-radius plots of a bench table (matplotlib, Agg backend).

* ``accuracy_vs_eps.png``: one panel per defense configuration; x = eps (an L-inf eps in 1/255
  steps, an L2 eps on the [0, 1] scale; the axis names the norm; 0 = clean accuracy of that
  configuration), a line per threat model. The adaptive (headline) line is drawn thick and red.
* ``accuracy_vs_radius.png`` (only when the grid has low-pass radii): one panel per
  attacked eps; x = radius in frequency bins, a line per threat model (plus the defended
  clean accuracy), and the undefended model's value as a dashed horizontal reference.

When several attacks were run, each line shows the ``worst-case`` row (an example counts
as robust only if every attack failed), the number a reader should cite.
Images are written atomically, so a crash never leaves a truncated PNG.

Corruption runs

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

import io
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # no display in CI or on servers
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .io import atomic_write_bytes  # noqa: E402
from ..threat import Norm  # noqa: E402
from .labels import defense_key, defense_label, row_norm  # noqa: E402
from .render import precise_eps  # noqa: E402

__all__ = ["write_plots", "png_bytes", "subplots", "EPS_PLOT", "RADIUS_PLOT", "TRADEOFF_PLOT", "CORRUPTION_SPECTRA_PLOT", "plot_tradeoff", "plot_corruption_spectra", "cumulative_share"]

EPS_PLOT = "accuracy_vs_eps.png"
RADIUS_PLOT = "accuracy_vs_radius.png"

_STYLE = {
    "clean": dict(color="0.45", linestyle=":", linewidth=1.2, marker="s"),
    "whitebox": dict(color="tab:blue", linestyle="-", linewidth=1.6, marker="o"),
    "oblivious": dict(color="tab:green", linestyle="--", linewidth=1.4, marker="^"),
    "adaptive": dict(color="tab:red", linestyle="-", linewidth=2.8, marker="o", zorder=5),
}


def _attack_rows(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows to draw for one threat model: worst-case if present, else the one attack (or the minimum)."""
    attacks = sorted(set(rows["attack"]))
    if "worst-case" in attacks:
        return rows[rows["attack"] == "worst-case"], "worst case of " + ", ".join(a for a in attacks if a != "worst-case")
    if len(attacks) == 1:
        return rows, attacks[0]
    grouped = rows.groupby("eps", as_index=False)["accuracy"].min()
    return grouped, "min over " + ", ".join(attacks)


def _panel_key(row) -> str:
    return defense_key(row)  # the cell's defense keeps -lt / -norm variants apart


def subplots(rows: int = 1, cols: int = 1, figsize: tuple[float, float] | None = None, **kwargs):
    """``(figure, axes)`` as ``pyplot.subplots`` returns them, on an Agg canvas without pyplot: importing
    pyplot costs a bench run about half a second, and pyplot keeps every figure until it is closed."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, **kwargs)


def png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    # no timestamp/software metadata: the bytes depend only on the data and matplotlib
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _table_norm(table: pd.DataFrame) -> str:
    """The table's threat-model norm (a bench run has one); ``linf`` for tables without one."""
    norms = list(dict.fromkeys(row_norm(row) for _, row in table.iterrows()))
    return norms[0] if len(norms) == 1 else Norm.LINF


def _title(table: pd.DataFrame) -> str:
    norms = ", ".join(dict.fromkeys(row_norm(row).label for _, row in table.iterrows()))
    return f"{table['model'].iloc[0]} on {table['dataset'].iloc[0]} (n = {int(table['n'].iloc[0])}), {norms} threat model"


def plot_accuracy_vs_eps(table: pd.DataFrame) -> bytes:
    """PNG bytes: accuracy (%) vs eps (L-inf in 1/255, L2 on the [0, 1] scale), one panel per defense configuration."""
    table = table.copy()
    norm = _table_norm(table)
    scale = Norm.parse(norm).eps_axis_scale
    table["_panel"] = [_panel_key(row) for _, row in table.iterrows()]
    panels = list(dict.fromkeys(table["_panel"]))
    cols = min(len(panels), 3)
    rows_n = -(-len(panels) // cols)
    fig, axes = subplots(rows_n, cols, figsize=(4.2 * cols, 3.4 * rows_n), squeeze=False, sharey=True)
    for ax, panel in zip(axes.flat, panels):
        sub = table[table["_panel"] == panel]
        clean = sub[sub["threat_model"] == "clean"]["accuracy"]
        clean_acc = float(clean.iloc[0]) if len(clean) else None
        for threat in ("whitebox", "oblivious", "adaptive"):
            rows = sub[sub["threat_model"] == threat]
            if rows.empty:
                continue
            drawn, what = _attack_rows(rows)
            drawn = drawn.sort_values("eps")
            xs = [scale * float(e) for e in drawn["eps"]]
            ys = [100 * float(a) for a in drawn["accuracy"]]
            if clean_acc is not None:  # every curve starts at the configuration's clean accuracy
                xs, ys = [0.0] + xs, [100 * clean_acc] + ys
            label = f"{threat}{' (headline)' if threat == 'adaptive' else ''}: {what}"
            ax.plot(xs, ys, label=label, **_STYLE[threat])
        ax.set_title(defense_label(sub.iloc[0]) if len(sub) else panel)
        ax.set_xlabel(Norm.parse(norm).eps_axis_label)
        ax.grid(alpha=0.3)
        ax.set_ylim(0, 100)
        ax.legend(fontsize=7, loc="lower left")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy (%)")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(_title(table))
    fig.tight_layout()
    return png_bytes(fig)


def plot_accuracy_vs_radius(table: pd.DataFrame) -> bytes | None:
    """PNG bytes: accuracy (%) vs low-pass radius, one panel per attacked eps; None without radii."""
    lowpass = table[(table["defense"] == "lowpass") & table["radius"].notna()]
    if lowpass.empty:
        return None
    undefended = table[table["defense"] == "none"]
    norm = _table_norm(table)
    eps_values = sorted(e for e in set(lowpass["eps"]) if e > 0)
    panels = eps_values or [0.0]
    fig, axes = subplots(1, len(panels), figsize=(4.4 * len(panels), 3.6), squeeze=False, sharey=True)
    clean = lowpass[lowpass["threat_model"] == "clean"].sort_values("radius")
    for ax, eps in zip(axes.flat, panels):
        if len(clean):
            ax.plot(clean["radius"], 100 * clean["accuracy"], label="clean (defended)", **_STYLE["clean"])
        for threat in ("oblivious", "adaptive"):
            rows = lowpass[(lowpass["threat_model"] == threat) & ((lowpass["eps"] - eps).abs() < 1e-9)]
            if rows.empty:
                continue
            per_radius = []
            for radius, group in rows.groupby("radius"):
                drawn, what = _attack_rows(group)
                per_radius.append((float(radius), 100 * float(drawn["accuracy"].iloc[0])))
            xs, ys = zip(*sorted(per_radius))
            label = f"{threat}{' (headline)' if threat == 'adaptive' else ''}: {what}"
            ax.plot(xs, ys, label=label, **_STYLE[threat])
        reference = undefended[(undefended["threat_model"] == "whitebox") & ((undefended["eps"] - eps).abs() < 1e-9)]
        if len(reference):
            drawn, what = _attack_rows(reference)
            ax.axhline(100 * float(drawn["accuracy"].iloc[0]), color="tab:blue", linestyle="--", linewidth=1.2,
                       label=f"undefended whitebox: {what}")
        undefended_clean = undefended[undefended["threat_model"] == "clean"]
        if len(undefended_clean):
            ax.axhline(100 * float(undefended_clean["accuracy"].iloc[0]), color="0.45", linestyle="-.", linewidth=1,
                       label="undefended clean")
        ax.set_title(f"{Norm.parse(norm).label} eps = {Norm.parse(norm).format_eps(eps)}" if eps > 0 else "clean")
        ax.set_xlabel("low-pass radius r (frequency bins)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("accuracy (%)")
    # one legend below the panels: the lines are the same in every panel and would hide data
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=8, frameon=False)
    fig.suptitle(_title(table))
    fig.tight_layout(rect=(0, 0.06 + 0.05 * ((len(labels) + 2) // 3), 1, 1))
    return png_bytes(fig)


def write_plots(table: pd.DataFrame, out_dir: Path | str) -> list[Path]:
    """Write the plots of ``table`` into ``out_dir`` (atomically); returns the paths written."""
    out = Path(out_dir)
    written: list[Path] = []
    if table.empty:
        return written
    table = precise_eps(table)
    atomic_write_bytes(out / EPS_PLOT, plot_accuracy_vs_eps(table))
    written.append(out / EPS_PLOT)
    radius_png = plot_accuracy_vs_radius(table)
    if radius_png is not None:
        atomic_write_bytes(out / RADIUS_PLOT, radius_png)
        written.append(out / RADIUS_PLOT)
    return written


TRADEOFF_PLOT = "corruption_tradeoff.png"
CORRUPTION_SPECTRA_PLOT = "corruption_spectra.png"
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
