"""Labels for results rows: a row's defense (for humans, and as the configuration key of its cell), and eps as k/255."""

from __future__ import annotations

import pandas as pd

from ..cells import cell_of

__all__ = ["defense_label", "defense_key", "format_eps"]


def defense_label(row) -> str:
    """``lowpass r=8``, ``smooth rho=1``, ``none``: one results row's defense, for humans."""
    label = str(row["defense"])
    if pd.notna(row.get("radius")):
        label += f" r={row['radius']:g}"
    if pd.notna(row.get("rho")):
        label += f" rho={row['rho']:g}"
    return label


def defense_key(row) -> str:
    """A row's defense configuration: its cell's defense (``lowpass-r8-lt``, ``smooth-rho1-norm``:
    it keeps settings that have no column), else :func:`defense_label` (hand-made tables)."""
    cell = cell_of(row)
    return cell.defense if cell is not None else defense_label(row)


def format_eps(eps: float) -> str:
    """``0.0313725`` -> ``8/255`` when eps is a whole number of 1/255 steps."""
    scaled = eps * 255
    if abs(scaled - round(scaled)) < 1e-6:
        return "0" if round(scaled) == 0 else f"{round(scaled)}/255"
    return f"{eps:.4g}"
