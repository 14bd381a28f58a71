"""``BenchResult``: what the engine returns, and the table built from a run's chunks.

Per-example outcomes live in an :class:`~hfc_robust.bench.checkpoint.OutcomeStore` (memory, or
the run's checkpoint folder) and are read one cell at a time, so writing the tables and
``examples.csv.gz`` needs memory for one cell's column, not the whole grid's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch.nn as nn

from ..cells import SCORED_SCENARIOS, Cell
from ..defenses.spec import DefenseSpec
from ..results.stats import wilson_interval
from .checkpoint import OutcomeStore, array_name
from .config import TABLE_COLUMNS, BenchConfig
from .grid import Grid
from .mineps import min_eps_pairs
from .spectra import spectra_summary

__all__ = ["BenchResult", "EXAMPLE_COLUMNS", "build_table", "gradient_totals", "attack_seconds"]

EXAMPLE_COLUMNS = ["cell", "index", "label", "clean_pred", "adv_pred", "robust"]


@dataclass
class BenchResult:
    """What a run produces: the table, per-example outcomes, gradient checks and provenance.

    :meth:`outcomes` reads one cell, :meth:`example_frames` streams all of them,
    :attr:`examples` is one DataFrame (convenient for small runs).
    """

    table: pd.DataFrame
    gradient_checks: dict[str, dict[str, int]]
    config: BenchConfig
    cells: list[Cell]
    defenses: list[DefenseSpec]
    store: OutcomeStore
    provenance: dict = field(default_factory=dict)
    extra_defenses: tuple[DefenseSpec, ...] = ()
    resumed_rows: int = 0
    modules: dict[str, nn.Module] = field(default_factory=dict, repr=False)  # the scored model per defense key

    def __post_init__(self) -> None:
        self._positions = {cell: i for i, cell in enumerate(self.cells)}
        self._defense_positions = {d.key: j for j, d in enumerate(self.defenses)}

    def outcomes(self, cell: Cell | str) -> tuple[np.ndarray, np.ndarray]:
        """``(example indices, robust as bool)`` of one cell (a :class:`Cell` or its key), in dataset order."""
        position = self._positions[cell if isinstance(cell, Cell) else Cell.parse(cell)]
        return self.store.column("index"), self.store.column(array_name("robust", position)).astype(bool)

    def example_frames(self):
        """One DataFrame (columns :data:`EXAMPLE_COLUMNS`, plus ``min_eps`` with ``config.min_eps``) per cell,
        in table order."""
        index, label = self.store.column("index"), self.store.column("label")
        for i, cell in enumerate(self.cells):
            j = self._defense_positions[cell.defense]
            frame = pd.DataFrame({"cell": cell.key, "index": index, "label": label,
                                  "clean_pred": self.store.column(array_name("clean", j)),
                                  "adv_pred": self.store.column(array_name("adv", i)),
                                  "robust": self.store.column(array_name("robust", i)).astype(np.int8)})
            if self.config.min_eps:  # the example's minimal eps for the cell's (defense, threat); empty elsewhere
                scored = cell.scenario in SCORED_SCENARIOS
                frame["min_eps"] = self.store.column(array_name("mineps", j)).astype(np.float64) if scored else np.nan
            yield frame

    def spectra(self) -> dict:
        """The perturbation spectra of every attacked cell (:func:`~hfc_robust.bench.spectra.spectra_summary`)."""
        return spectra_summary(self.cells, {d.key: d for d in self.defenses}, self.store)

    def min_eps(self) -> pd.DataFrame | None:
        """Minimal eps per example and (defense, threat) (columns ``defense``, ``threat_model``, ``index``,
        ``min_eps``, [0, 1] scale; 0 when misclassified clean, inf beyond the maximum); None without ``min_eps``."""
        if not self.config.min_eps:
            return None
        index = self.store.column("index")
        return pd.concat([pd.DataFrame({"defense": d.key, "threat_model": threat, "index": index,
                                        "min_eps": self.store.column(array_name("mineps", j)).astype(np.float64)})
                          for j, (d, threat) in enumerate(min_eps_pairs(self.defenses))], ignore_index=True)

    @property
    def examples(self) -> pd.DataFrame:
        frames = list(self.example_frames())
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=EXAMPLE_COLUMNS)


def gradient_totals(grid: Grid, store: OutcomeStore) -> dict[str, dict[str, int]]:
    """Per defense key: attacked examples whose input gradient was checked at a gradient attack's
    first step (one count per attack run), and those where it was zero or not finite."""
    totals = {d.key: {"checked": 0, "zero_gradient": 0} for d in grid.defenses}
    for start in store.starts:
        counts = store.read(start, "grad")
        for d in grid.defenses:
            checked, zero = counts[grid.defense_position[d.key]]
            totals[d.key]["checked"] += int(checked)
            totals[d.key]["zero_gradient"] += int(zero)
    return totals


def attack_seconds(grid: Grid, store: OutcomeStore) -> dict[str, float]:
    """Wall time of each cascade stage row (``autoattack:apgd-ce``, ..., and the cascade's own row),
    summed over the run's batches, by cell key (run.json's ``attack_seconds``)."""
    totals = np.zeros(len(grid.cells))
    for start in store.starts:  # every chunk of the grid's batches carries its "seconds" array
        totals += store.read(start, "seconds")
    return {cell.key: round(float(t), 3) for cell, t in zip(grid.cells, totals) if t > 0}


def build_table(grid: Grid, store: OutcomeStore) -> pd.DataFrame:
    """results.csv's rows; ``energy_inside_radius`` and ``inband_l2`` from the perturbation spectra
    (low-pass attacked cells; NaN elsewhere, see :func:`~hfc_robust.bench.spectra.spectra_summary`)."""
    rows = []
    spectra = spectra_summary(grid.cells, grid.defense_of, store)
    for i, cell in enumerate(grid.cells):
        d = grid.defense_of[cell.defense]
        outcome = store.column(array_name("robust", i))
        n, correct = len(outcome), int(outcome.sum())
        low, high = wilson_interval(correct, n)
        eps = cell.eps  # the grid's exact eps (only a key read back from a file is rounded)
        rows.append(dict(dataset=cell.dataset, model=cell.model, defense=d.kind if d.kind != "custom" else d.key,
                         radius=d.radius if d.radius is not None else np.nan,
                         rho=d.rho if d.rho is not None else np.nan, norm=cell.norm.value, attack=cell.attack, eps=eps,
                         eps_255=round(eps * 255, 4), threat_model=cell.scenario, n=n, correct=correct,
                         accuracy=correct / n if n else np.nan, ci_low=low, ci_high=high, cell=cell.key))
        row = spectra["by_position"].get(i)
        for column in ("energy_inside_radius", "inband_l2"):
            rows[-1][column] = float(spectra["table"][column].iloc[row]) if row is not None else np.nan
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
