"""The frequency views of a bench run (no torch): ``perturbation_spectra.npz`` and ``.png`` (where the
attacks put their energy) and, for a grid with bands (``--band``), ``bands.csv``, ``bands.md`` and
``bands.png`` (robust accuracy per band: :func:`write_bands`).

The npz holds, per attacked cell (row k of every array, in table order):

* ``cell`` (str), ``defense`` (key, e.g. ``lowpass-r8``), ``threat``, ``attack``, ``eps`` ([0, 1]
  scale), ``radius`` (frequency bins; NaN without a low-pass radius);
* ``count``: attacked examples averaged over (clean-correct for the scored model; for oblivious
  rows, clean-correct for both the bare and the defended model);
* ``spectrum`` (K x H x W): mean over those examples and over channels of
  ``|fftshift(fft2(x_adv - x))|^2`` (unnormalised FFT, centre at ``(H // 2, W // 2)``);
* ``radial`` (K x B): mean power per integer distance bin, bin b holding the frequencies at
  distance ``b <= d < b + 1`` from the centre; ``radial_count`` (B): frequencies per bin;
* ``energy_inside_radius`` and ``inband_l2``: as in results.csv (NaN outside low-pass cells);
  ``inband_l2`` is the mean L2 norm of the perturbation's part inside the filter's radius, a
  measurement of the spectrum under either threat model (``--norm linf`` or ``l2``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .io import atomic_write_bytes, atomic_write_text, npz_bytes
from ..threat import Norm
from .labels import band_text, defense_key, defense_label, row_band, row_norm

__all__ = [
    "SPECTRA_NPZ",
    "SPECTRA_PLOT",
    "BANDS_CSV",
    "BANDS_MD",
    "BANDS_PLOT",
    "radial_profile",
    "write_spectra",
    "plot_spectra",
    "band_table",
    "band_markdown",
    "plot_bands",
    "write_bands",
]

SPECTRA_NPZ = "perturbation_spectra.npz"
SPECTRA_PLOT = "perturbation_spectra.png"


def _distance_bins(height: int, width: int) -> np.ndarray:
    rows = np.arange(height) - height // 2
    cols = np.arange(width) - width // 2
    return np.floor(np.hypot(rows[:, None], cols[None, :])).astype(np.int64)


def radial_profile(spectra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean power per distance bin, ... x B; frequencies per bin, B)`` of centred spectra (... x H x W)."""
    bins = _distance_bins(*spectra.shape[-2:]).ravel()
    counts = np.bincount(bins)
    flat = spectra.reshape(-1, bins.size)
    sums = np.stack([np.bincount(bins, weights=row, minlength=counts.size) for row in flat]) if len(flat) \
        else np.zeros((0, counts.size))
    return (sums / counts).reshape(*spectra.shape[:-2], counts.size), counts


def write_spectra(summary: dict, out_dir: Path | str, title: str = "") -> list[Path]:
    """Write the npz and the PNG of :func:`hfc_robust.engine.spectra.spectra_summary`'s result; the paths written."""
    table: pd.DataFrame = summary["table"]
    if table.empty:
        return []
    out = Path(out_dir)
    spectrum = np.asarray(summary["spectrum"], dtype=np.float64)
    radial, radial_count = radial_profile(spectrum)
    arrays = {"cell": table["cell"].to_numpy(dtype=str), "defense": table["defense"].to_numpy(dtype=str),
              "threat": table["threat"].to_numpy(dtype=str), "attack": table["attack"].to_numpy(dtype=str),
              "eps": table["eps"].to_numpy(np.float64), "radius": table["radius"].to_numpy(np.float64),
              "count": table["count"].to_numpy(np.int64), "spectrum": spectrum, "radial": radial,
              "radial_count": radial_count.astype(np.int64),
              "energy_inside_radius": table["energy_inside_radius"].to_numpy(np.float64),
              "inband_l2": table["inband_l2"].to_numpy(np.float64)}
    if "band" in table.columns and (table["band"] != "").any():  # a band-limited grid: each row's band and leak
        arrays["band"] = table["band"].to_numpy(dtype=str)
        arrays["outside_band"] = table["outside_band"].to_numpy(np.float64)
    atomic_write_bytes(out / SPECTRA_NPZ, npz_bytes(arrays))
    atomic_write_bytes(out / SPECTRA_PLOT, plot_spectra(table, radial, title))
    return [out / SPECTRA_NPZ, out / SPECTRA_PLOT]


_COLOURS = {"whitebox": "tab:blue", "oblivious": "tab:green", "adaptive": "tab:red"}


def plot_spectra(table: pd.DataFrame, radial: np.ndarray, title: str = "") -> bytes:
    """PNG bytes: radial profile (log power) per threat model, one panel per defense, the filter's
    radius as a vertical line. Several attacks or eps in one panel differ by line style."""
    from .plots import png_bytes, subplots  # matplotlib's Agg backend is set there

    defenses = list(dict.fromkeys(table["defense"]))
    cols = min(len(defenses), 3)
    rows_n = -(-len(defenses) // cols)
    fig, axes = subplots(rows_n, cols, figsize=(4.4 * cols, 3.4 * rows_n), squeeze=False, sharey=True)
    variants = list(dict.fromkeys(zip(table["attack"], table["eps"])))
    styles = ["-", "--", ":", "-."]
    for ax, defense in zip(axes.flat, defenses):
        for k in np.flatnonzero((table["defense"] == defense).to_numpy()):
            row = table.iloc[k]
            profile = radial[k]
            if not np.isfinite(profile).all() or not (profile > 0).any():
                continue  # no attacked example, or eps = 0
            variant = variants.index((row["attack"], row["eps"]))
            ax.semilogy(np.arange(len(profile)), np.where(profile > 0, profile, np.nan),
                        color=_COLOURS.get(row["threat"], "0.3"), linestyle=styles[variant % len(styles)],
                        linewidth=2.2 if row["threat"] == "adaptive" else 1.4,
                        label=f"{row['threat']} {row['attack']} {row_norm(row).label} "
                              f"{row_norm(row).format_eps(float(row['eps']))} (n={int(row['count'])})")
        radius = table.loc[table["defense"] == defense, "radius"].iloc[0]
        if np.isfinite(radius):
            ax.axvline(float(radius), color="0.2", linestyle="--", linewidth=1, label=f"filter radius r = {radius:g}")
        ax.set_title(defense)
        ax.set_xlabel("distance from the centre (frequency bins)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # a bare model none of whose attacked examples moved has no line
            ax.legend(fontsize=6, loc="lower left")
    for ax in axes[:, 0]:
        ax.set_ylabel("mean |FFT(x_adv - x)|^2")
    for ax in list(axes.flat)[len(defenses):]:
        ax.set_visible(False)
    fig.suptitle(title or "perturbation spectra (radial mean)")
    fig.tight_layout()
    return png_bytes(fig)


BANDS_CSV, BANDS_MD, BANDS_PLOT = "bands.csv", "bands.md", "bands.png"
_BAND_COLUMNS = ["defense", "configuration", "radius", "threat_model", "attack", "norm", "eps", "eps_255", "band",
                 "band_lo", "band_hi", "n", "correct", "accuracy", "ci_low", "ci_high", "outside_band",
                 "energy_inside_radius", "cell"]


def band_table(table: pd.DataFrame) -> pd.DataFrame:
    """Robust accuracy per band: one row per attacked row of a bench table, with its band (``all`` for the
    whole spectrum; ``band_lo``/``band_hi`` its radii, NaN for ``all``), Wilson CI and the share of its
    perturbations' energy outside the band after clipping, ordered by configuration, threat model,
    attack, eps and band (radii ascending, ``all`` last)."""
    attacked = table[table["threat_model"] != "clean"]
    rows = []
    for order, (_, row) in enumerate(attacked.iterrows()):
        band = row_band(row)
        rows.append({"defense": defense_key(row), "configuration": defense_label(row), "radius": row.get("radius"),
                     "threat_model": row["threat_model"], "attack": row["attack"], "norm": row_norm(row).value,
                     "eps": float(row["eps"]), "eps_255": row.get("eps_255"), "band": band_text(row),
                     "band_lo": band.lo if band else np.nan, "band_hi": band.hi if band else np.nan,
                     "n": int(row["n"]), "correct": int(row["correct"]), "accuracy": float(row["accuracy"]),
                     "ci_low": float(row["ci_low"]), "ci_high": float(row["ci_high"]),
                     "outside_band": row.get("outside_band", np.nan),
                     "energy_inside_radius": row.get("energy_inside_radius", np.nan), "cell": row.get("cell", ""),
                     "_order": order, "_band": (np.inf, np.inf) if band is None else (band.lo, band.hi)})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=_BAND_COLUMNS)
    first = {name: i for i, name in enumerate(dict.fromkeys(frame["defense"]))}
    frame["_defense"] = frame["defense"].map(first)
    frame = frame.sort_values(["_defense", "threat_model", "attack", "eps", "_band", "_order"], kind="stable")
    return frame[_BAND_COLUMNS].reset_index(drop=True)


def _headline(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows to report for one (configuration, threat model): ``worst-case`` where several attacks ran,
    else ``autoattack``, else the single attack (the plots' rule)."""
    from .plots import _attack_rows

    rows = rows[~rows["attack"].astype(str).str.contains(":")]  # cascade stages are in bands.csv
    if "autoattack" in set(rows["attack"]) and "worst-case" not in set(rows["attack"]):
        return rows[rows["attack"] == "autoattack"], "autoattack"
    return _attack_rows(rows)


def band_markdown(summary: pd.DataFrame, title: str = "") -> str:
    """bands.md: per configuration, threat model and eps, the headline attack's accuracy in each band
    (percent, Wilson 95% CI) and, below, each band's leak (energy outside the band after clipping)."""
    bands = list(dict.fromkeys(summary.sort_values("band_lo", na_position="last")["band"]))
    lines = [f"# {title}" if title else "# Robust accuracy per frequency band", "",
             "Accuracy (%) with its Wilson 95% interval; a band LO-HI restricts the perturbation to the frequencies "
             "at distance LO < d <= HI from the spectrum's centre (`all`: the whole spectrum). Where several attacks "
             "ran, each example counts as robust only if every attack failed (worst case).", "",
             "| configuration | threat model | attack | eps | " + " | ".join(bands) + " |",
             "|---|---|---|---|" + "---|" * len(bands)]
    for (configuration, threat), group in summary.groupby(["configuration", "threat_model"], sort=False):
        drawn, what = _headline(group)
        for eps, per_eps in drawn.groupby("eps", sort=True):
            cells = {row["band"]: f"{100 * row['accuracy']:.1f} [{100 * row['ci_low']:.1f}-{100 * row['ci_high']:.1f}]"
                     for _, row in per_eps.iterrows()}
            eps_text = Norm.parse(per_eps["norm"].iloc[0]).format_eps(float(eps))
            lines.append(f"| {configuration} | {threat} | {what} | {eps_text} | "
                         + " | ".join(cells.get(band, "") for band in bands) + " |")
    leaks = summary[summary["outside_band"].notna()]
    if len(leaks):
        worst = leaks.loc[leaks["outside_band"].astype(float).idxmax()]
        lines += ["", f"Energy outside the band once clipped to [0, 1]: mean {100 * leaks['outside_band'].mean():.2f}%, "
                  f"largest {100 * float(worst['outside_band']):.2f}% ({worst['configuration']} {worst['threat_model']} "
                  f"{worst['attack']}, band {worst['band']})."]
    return "\n".join(lines) + "\n"


def plot_bands(summary: pd.DataFrame, title: str = "") -> bytes:
    """PNG bytes: accuracy (%) against band, one panel per eps, one line per configuration and threat model
    (the headline attack's, with its Wilson interval), the undefended model dashed."""
    from .plots import png_bytes, subplots

    bands = list(dict.fromkeys(summary.sort_values("band_lo", na_position="last")["band"]))
    eps_values = sorted(set(summary["eps"]))
    fig, axes = subplots(1, len(eps_values), figsize=(4.8 * len(eps_values), 3.9), squeeze=False, sharey=True)
    colours = dict(zip(dict.fromkeys(summary["configuration"]), [f"C{i}" for i in range(10)] * 10))
    for ax, eps in zip(axes.flat, eps_values):
        for (configuration, threat), group in summary[summary["eps"] == eps].groupby(
                ["configuration", "threat_model"], sort=False):
            drawn, what = _headline(group)
            drawn = drawn.set_index("band").reindex(bands)
            xs = np.arange(len(bands))
            ys, lo, hi = (100 * drawn[c].astype(float).to_numpy() for c in ("accuracy", "ci_low", "ci_high"))
            undefended = group["defense"].iloc[0] == "none"
            style = dict(linestyle="--" if undefended else ("-" if threat == "adaptive" else ":"),
                         linewidth=2.2 if threat == "adaptive" else 1.4, marker="o" if threat != "oblivious" else "^")
            ax.plot(xs, ys, color="0.2" if undefended else colours[configuration],
                    label=f"{configuration} {threat}: {what}", **style)
            ax.fill_between(xs, lo, hi, color="0.2" if undefended else colours[configuration], alpha=0.12)
        norm = Norm.parse(summary["norm"].iloc[0])
        ax.set_title(f"{norm.label} eps = {norm.format_eps(float(eps))}")
        ax.set_xticks(np.arange(len(bands)), bands)
        ax.set_xlabel("band (frequency bins from the centre)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("robust accuracy (%)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=7, frameon=False)
    fig.suptitle(title or "robust accuracy per frequency band")
    fig.tight_layout(rect=(0, 0.05 + 0.04 * ((len(labels) + 2) // 3), 1, 1))
    return png_bytes(fig)


def write_bands(table: pd.DataFrame, out_dir: Path | str, title: str = "") -> list[Path]:
    """bands.csv, bands.md and bands.png of a bench table with bands; nothing (and []) without bands."""
    if "band" not in table.columns or not any(row_band(row) is not None for _, row in table.iterrows()):
        return []
    out = Path(out_dir)
    summary = band_table(table)
    atomic_write_text(out / BANDS_CSV, summary.to_csv(index=False, float_format="%.6f", lineterminator="\n"))
    atomic_write_text(out / BANDS_MD, band_markdown(summary, title))
    atomic_write_bytes(out / BANDS_PLOT, plot_bands(summary, title))
    return [out / BANDS_CSV, out / BANDS_MD, out / BANDS_PLOT]
