"""Human-readable labels for results rows: a row's defense, and eps as k/255."""

from __future__ import annotations

import pandas as pd

__all__ = ["defense_label", "format_eps"]


def defense_label(row) -> str:
    """``lowpass r=8``, ``smooth rho=1``, ``none``: one results row's defense, for humans."""
    label = str(row["defense"])
    if pd.notna(row.get("radius")):
        label += f" r={row['radius']:g}"
    if pd.notna(row.get("rho")):
        label += f" rho={row['rho']:g}"
    return label


def format_eps(eps: float) -> str:
    """``0.0313725`` -> ``8/255`` when eps is a whole number of 1/255 steps."""
    scaled = eps * 255
    if abs(scaled - round(scaled)) < 1e-6:
        return "0" if round(scaled) == 0 else f"{round(scaled)}/255"
    return f"{eps:.4g}"
