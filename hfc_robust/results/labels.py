"""Labels for results rows: a row's defense (for humans, and as the configuration key of its cell), its
threat-model norm, and eps (an L-inf eps as k/255, an L2 eps as a plain number)."""

from __future__ import annotations

import pandas as pd

from ..cells import cell_of

__all__ = ["defense_label", "defense_key", "format_eps", "row_norm", "norm_label", "eps_label", "row_eps", "NORM_LABELS",
           "EPS_AXIS_LABELS", "eps_axis_scale"]

#: How the tables and plots name the threat-model norms (``linf``, ``l2`` in files and keys).
NORM_LABELS = {"linf": "L∞", "l2": "L2"}
#: The x-axis label of an accuracy-vs-eps plot per norm (L-inf eps drawn in 1/255 steps).
EPS_AXIS_LABELS = {"linf": "L∞ eps (x/255)", "l2": "L2 eps ([0, 1] pixel scale)"}


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


def format_eps(eps: float, norm: str = "linf") -> str:
    """An L-inf eps as ``8/255`` when it is a whole number of 1/255 steps (``0.0313725`` ->
    ``8/255``), else ``0.03``; an L2 eps always as a plain number (``0.5``)."""
    if norm == "l2":
        return f"{eps:.4g}"
    scaled = eps * 255
    if abs(scaled - round(scaled)) < 1e-6:
        return "0" if round(scaled) == 0 else f"{round(scaled)}/255"
    return f"{eps:.4g}"


def row_norm(row) -> str:
    """A results row's threat-model norm: its ``norm`` column, else its cell's, else ``linf``
    (tables written before the norm existed were all L-inf)."""
    value = row.get("norm") if hasattr(row, "get") else None
    if isinstance(value, str) and value:
        return value
    cell = cell_of(row)
    return cell.norm if cell is not None else "linf"


def norm_label(norm: str) -> str:
    """``L∞`` or ``L2``."""
    return NORM_LABELS.get(norm, str(norm))


def eps_label(eps: float, norm: str) -> str:
    """``8/255 (L∞)``, ``0.5 (L2)``: an eps with its norm, for messages."""
    return f"{format_eps(eps, norm)} ({norm_label(norm)})"


def row_eps(row) -> str:
    """A results row's eps formatted for its norm (``8/255``, ``0.5``)."""
    return format_eps(float(row["eps"]), row_norm(row))


def eps_axis_scale(norm: str) -> float:
    """The factor from eps to a plot's x value: 255 for L-inf (drawn in 1/255 steps), 1 for L2."""
    return 255.0 if norm == "linf" else 1.0
