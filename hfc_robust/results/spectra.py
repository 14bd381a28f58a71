"""``perturbation_spectra.npz`` and ``perturbation_spectra.png`` of a bench run (no torch).

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

from .io import atomic_write_bytes, npz_bytes
from ..threat import Norm
from .labels import row_norm

__all__ = ["SPECTRA_NPZ", "SPECTRA_PLOT", "radial_profile", "write_spectra", "plot_spectra"]

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
