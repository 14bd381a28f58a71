"""``CorruptionResult``: a corruption grid's :class:`~hfc_robust.engine.result.EngineResult`: results.csv's
rows (accuracy with Wilson CIs per (defense, corruption, severity)), per-example predictions, and
each corruption's perturbation spectrum with its energy inside every low-pass radius."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..cells import CorruptionCell
from ..corruptions.registry import CORRUPTIONS
from ..ops.frequency import frequency_mask
from ..results.stats import wilson_interval
from ..spec import CorruptionSpec
from .checkpoint import OutcomeStore, array_name
from .corruption_batch import SPECTRUM_SCALE
from .grid import CorruptionGrid
from .plan import CORRUPTION_COLUMNS
from .result import EngineResult

__all__ = ["CorruptionResult", "CORRUPTION_EXAMPLE_COLUMNS", "corruption_spectra"]

CORRUPTION_EXAMPLE_COLUMNS = ["cell", "index", "label", "clean_pred", "pred", "correct"]


@dataclass
class CorruptionResult(EngineResult):
    """A corruption grid's result: the table, per-example predictions (in ``store``), spectra and provenance."""

    spec: CorruptionSpec
    grid: CorruptionGrid

    def build_table(self) -> pd.DataFrame:
        return build_corruption_table(self.grid, self.store)

    def spectra(self) -> dict:
        return corruption_spectra(self.grid, self.store)

    def predictions(self, cell: CorruptionCell) -> np.ndarray:
        """The defended model's class per example on the cell's images (clean rows: clean predictions)."""
        if cell.is_clean:
            return self.store.column(array_name("clean", self.grid.defense_position[cell.defense]))
        return self.store.column(array_name("pred", self.grid.positions[cell]))

    def outcomes(self, cell: CorruptionCell | str) -> tuple[np.ndarray, np.ndarray]:
        """``(example indices, correct as bool)`` of one cell, in dataset order."""
        cell = cell if isinstance(cell, CorruptionCell) else CorruptionCell._parse(str(cell))
        return self.store.column("index"), self.predictions(cell) == self.store.column("label")

    def example_frames(self) -> Iterator[pd.DataFrame]:
        """One DataFrame (:data:`CORRUPTION_EXAMPLE_COLUMNS`) per cell, in table order."""
        index, label = self.store.column("index"), self.store.column("label")
        for cell in self.grid.cells:
            pred = self.predictions(cell)
            clean = self.store.column(array_name("clean", self.grid.defense_position[cell.defense]))
            yield pd.DataFrame(
                {
                    "cell": cell.key,
                    "index": index,
                    "label": label,
                    "clean_pred": clean,
                    "pred": pred,
                    "correct": (pred == label).astype(np.int8),
                }
            )


def corruption_spectra(grid: CorruptionGrid, store: OutcomeStore) -> dict:
    """Per (corruption, severity): the mean centred power spectrum of ``x_c - x`` over every image
    (K x H x W), the image count, the RMS change per pixel value ([0, 1] scale, by Parseval), and
    the share of the spectrum's energy inside each low-pass radius of the grid (mask ``<= r``, or
    ``< r`` with ``inclusive=False``; energy-weighted over images; NaN where the change is zero).
    Returns ``table`` (long: one row per pair and radius, or per pair without radii), ``spectrum``,
    ``pairs`` and ``shares`` ({radius: K array})."""
    count = sum(len(store.read(start, "index")) for start in store.starts)
    totals = []
    for k, _ in enumerate(grid.pairs):
        parts = [store.read(start, array_name("cspec", k)) for start in store.starts]
        totals.append(np.sum(parts, axis=0, dtype=np.int64) if parts else None)  # exact: fixed-point steps
    height, width = next((t.shape for t in totals if t is not None), (0, 0))
    unit = float(height * width) ** 2 / SPECTRUM_SCALE  # one step in the spectrum's own units
    spectrum = (
        np.stack(
            [
                t.astype(np.float64) * unit / count if t is not None and count else np.full((height, width), np.nan)
                for t in totals
            ]
        )
        if totals
        else np.zeros((0, height, width))
    )
    radii = sorted({float(d.radius) for d in grid.defenses if d.kind == "lowpass" and d.radius is not None})
    shares = {}
    for radius in radii:
        mask = frequency_mask(height, width, radius, grid.spec.inclusive).numpy().astype(bool)
        energy = spectrum.reshape(len(spectrum), -1).sum(axis=1)
        inside = spectrum[:, mask].sum(axis=1)
        shares[radius] = np.divide(inside, energy, out=np.full(len(energy), np.nan), where=energy > 0)
    rms = (
        np.sqrt(spectrum.reshape(len(spectrum), -1).sum(axis=1) / float(height * width) ** 2)
        if height
        else np.zeros(len(spectrum))
    )
    rows = []
    for k, (name, severity) in enumerate(grid.pairs):
        base = dict(
            corruption=name, family=CORRUPTIONS[name].family, severity=severity, count=count, rms_change=float(rms[k])
        )
        rows += [dict(base, radius=radius, energy_inside_radius=float(shares[radius][k])) for radius in radii] or [
            dict(base, radius=np.nan, energy_inside_radius=np.nan)
        ]
    table = pd.DataFrame(
        rows, columns=["corruption", "family", "severity", "count", "rms_change", "radius", "energy_inside_radius"]
    )
    return {"table": table, "spectrum": spectrum, "pairs": list(grid.pairs), "shares": shares, "count": count}


def build_corruption_table(grid: CorruptionGrid, store: OutcomeStore) -> pd.DataFrame:
    """results.csv's rows (:data:`CORRUPTION_COLUMNS`): accuracy with a Wilson 95% CI per cell;
    ``energy_inside_radius`` for low-pass rows (the corruption's spectral share inside the row's radius)."""
    label = store.column("label")
    shares = corruption_spectra(grid, store)["shares"]
    rows = []
    for i, cell in enumerate(grid.cells):
        d = grid.defense_of[cell.defense]
        pred = store.column(
            array_name("clean", grid.defense_position[d.key]) if cell.is_clean else array_name("pred", i)
        )
        n, correct = len(pred), int((pred == label).sum())
        low, high = wilson_interval(correct, n)
        share = np.nan
        if not cell.is_clean and d.kind == "lowpass" and d.radius is not None:
            share = float(shares[float(d.radius)][grid.pair_position[(cell.corruption, cell.severity)]])
        rows.append(
            dict(
                dataset=cell.dataset,
                model=cell.model,
                defense=d.kind if d.kind != "custom" else d.key,
                radius=d.radius if d.radius is not None else np.nan,
                rho=d.rho if d.rho is not None else np.nan,
                corruption=cell.corruption,
                family="clean" if cell.is_clean else CORRUPTIONS[cell.corruption].family,
                severity=cell.severity,
                n=n,
                correct=correct,
                accuracy=correct / n if n else np.nan,
                ci_low=low,
                ci_high=high,
                energy_inside_radius=share,
                cell=cell.key,
            )
        )
    return pd.DataFrame(rows, columns=CORRUPTION_COLUMNS)
