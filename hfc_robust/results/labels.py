"""Labels for results rows: a row's defense (for humans, and as the configuration key of its cell),
its threat-model norm, and eps written for that norm (:meth:`hfc_robust.threat.Norm.format_eps`)."""

from __future__ import annotations

import pandas as pd

from ..cells import Cell, cell_of
from ..threat import Band, Norm

__all__ = ["defense_label", "defense_key", "row_norm", "row_eps", "row_band", "band_text"]


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


def row_norm(row) -> Norm:
    """A results row's threat-model norm: its ``norm`` column, else its cell's, else L-inf
    (tables written before the norm existed were all L-inf)."""
    value = row.get("norm") if hasattr(row, "get") else None
    if isinstance(value, str) and value:
        return Norm.parse(value)
    cell = cell_of(row)
    return cell.norm if isinstance(cell, Cell) else Norm.LINF


def row_eps(row) -> str:
    """A results row's eps formatted for its norm (``8/255``, ``0.5``)."""
    return row_norm(row).format_eps(float(row["eps"]))


def row_band(row) -> Band | None:
    """A results row's frequency band: its ``band`` column (``8-23``; empty for the whole spectrum), else
    its cell's; None for the whole spectrum (every table written before bands existed)."""
    value = row.get("band") if hasattr(row, "get") else None
    if isinstance(value, str):
        return Band.parse(value) if value else None
    cell = cell_of(row)
    return cell.band if isinstance(cell, Cell) else None


def band_text(row) -> str:
    """``8-23``, or ``all`` for a row of the whole spectrum."""
    band = row_band(row)
    return band.text if band is not None else "all"
