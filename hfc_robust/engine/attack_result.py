"""``AttackResult``: an attack grid's :class:`~hfc_robust.engine.result.EngineResult`: results.csv's rows
(accuracy with Wilson CIs, the perturbation spectra's in-band shares), per-example outcomes, the
gradient check's counts, each cascade stage's time and the minimal eps per example."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch.nn as nn

from ..cells import SCORED_SCENARIOS, Cell
from ..defenses.spec import DefenseSpec
from ..errors import HfcError
from ..results.stats import wilson_interval
from ..spec import BenchSpec
from .checkpoint import OutcomeStore, array_name
from .grid import AttackGrid
from .mineps import min_eps_pairs
from .plan import BAND_TABLE_COLUMNS, TABLE_COLUMNS
from .result import EngineResult
from .spectra import band_outside_filter, spectra_summary

__all__ = ["AttackResult", "EXAMPLE_COLUMNS", "gradient_totals", "attack_seconds"]

EXAMPLE_COLUMNS = ["cell", "index", "label", "clean_pred", "adv_pred", "robust"]


@dataclass
class AttackResult(EngineResult):
    """An attack grid's result. :meth:`outcomes` reads one cell, :meth:`example_frames` streams all
    of them; ``gradient_checks`` holds the gradient check's counts per defense; ``extra_defenses``
    the custom defenses the grid ran beside its spec's."""

    spec: BenchSpec
    grid: AttackGrid
    extra_defenses: tuple[DefenseSpec, ...] = ()
    gradient_checks: dict[str, dict[str, int]] = field(init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.gradient_checks = gradient_totals(self.grid, self.store)

    @property
    def cells(self) -> list[Cell]:
        return self.grid.cells

    @property
    def modules(self) -> dict[str, nn.Module]:
        """The model each defense's rows are scored on (empty for a result assembled from chunks alone)."""
        return self.grid.modules

    def build_table(self) -> pd.DataFrame:
        """results.csv's rows; ``energy_inside_radius`` and ``inband_l2`` from the perturbation spectra
        (low-pass attacked cells; NaN elsewhere, see :func:`~hfc_robust.engine.spectra.spectra_summary`)."""
        grid, store = self.grid, self.store
        rows = []
        spectra = spectra_summary(grid.cells, grid.defense_of, store)
        for i, cell in enumerate(grid.cells):
            d = grid.defense_of[cell.defense]
            outcome = store.column(array_name("robust", i))
            n, correct = len(outcome), int(outcome.sum())
            low, high = wilson_interval(correct, n)
            eps = cell.eps  # the grid's exact eps (only a key read back from a file is rounded)
            rows.append(
                dict(
                    dataset=cell.dataset,
                    model=cell.model,
                    defense=d.kind if d.kind != "custom" else d.key,
                    radius=d.radius if d.radius is not None else np.nan,
                    rho=d.rho if d.rho is not None else np.nan,
                    norm=cell.norm.value,
                    attack=cell.attack,
                    eps=eps,
                    eps_255=round(eps * 255, 4),
                    threat_model=cell.scenario,
                    n=n,
                    correct=correct,
                    accuracy=correct / n if n else np.nan,
                    ci_low=low,
                    ci_high=high,
                    cell=cell.key,
                )
            )
            row = spectra["by_position"].get(i)
            for column in ("energy_inside_radius", "inband_l2", "outside_band"):
                rows[-1][column] = float(spectra["table"][column].iloc[row]) if row is not None else np.nan
            rows[-1]["band"] = cell.band.text if cell.band is not None else ""
        # a band-limited grid's rows carry their band and its leak; other tables keep their columns
        banded = any(cell.band is not None for cell in grid.cells)
        return pd.DataFrame(rows, columns=BAND_TABLE_COLUMNS if banded else TABLE_COLUMNS)

    def band_leaks(self) -> dict[Cell, pd.DataFrame]:
        """Per cell whose band its low-pass defense removes: one row per attacked example, with ``index``,
        ``robust``, ``leak`` and ``bound`` (:func:`~hfc_robust.engine.spectra.band_leak`) and
        ``clean_margin`` (the defended model's top logit minus the runner-up at the clean image)."""
        grid, store = self.grid, self.store
        checked = [
            (i, cell)
            for i, cell in enumerate(grid.cells)
            if cell.has_perturbation and band_outside_filter(cell.threat, grid.defense_of[cell.defense])
        ]
        if not store.starts or not checked:
            return {}
        index, leaks = store.column("index"), {}
        for i, cell in checked:
            frame = pd.DataFrame(
                {
                    "index": index,
                    "robust": store.column(array_name("robust", i)).astype(bool),
                    "leak": store.column(array_name("leak", i)),
                    "bound": store.column(array_name("clipb", i)),
                    "clean_margin": store.column(array_name("cmargin", grid.defense_position[cell.defense])),
                }
            )
            leaks[cell] = frame[frame["leak"].notna()].reset_index(drop=True)
        return leaks

    def outcomes(self, cell: Cell | str) -> tuple[np.ndarray, np.ndarray]:
        """``(example indices, robust as bool)`` of one cell (a :class:`Cell` or its key), in dataset order."""
        parsed = cell if isinstance(cell, Cell) else Cell.parse(cell)
        if not isinstance(parsed, Cell):
            raise HfcError(f"{cell} is a corruption cell, not one of this attack grid's", "pass an attack cell's key")
        position = self.grid.positions[parsed]
        return self.store.column("index"), self.store.column(array_name("robust", position)).astype(bool)

    def example_frames(self) -> Iterator[pd.DataFrame]:
        """One DataFrame (columns :data:`EXAMPLE_COLUMNS`, plus ``min_eps`` with ``spec.min_eps``) per cell,
        in table order."""
        index, label = self.store.column("index"), self.store.column("label")
        for i, cell in enumerate(self.grid.cells):
            j = self.grid.defense_position[cell.defense]
            frame = pd.DataFrame(
                {
                    "cell": cell.key,
                    "index": index,
                    "label": label,
                    "clean_pred": self.store.column(array_name("clean", j)),
                    "adv_pred": self.store.column(array_name("adv", i)),
                    "robust": self.store.column(array_name("robust", i)).astype(np.int8),
                }
            )
            if self.spec.min_eps:  # the example's minimal eps for the cell's (defense, scenario); empty elsewhere
                scored = cell.scenario in SCORED_SCENARIOS
                frame["min_eps"] = self.store.column(array_name("mineps", j)).astype(np.float64) if scored else np.nan
            yield frame

    def spectra(self) -> dict:
        """The perturbation spectra of every attacked cell (:func:`~hfc_robust.engine.spectra.spectra_summary`)."""
        return spectra_summary(self.grid.cells, self.grid.defense_of, self.store)

    def min_eps(self) -> pd.DataFrame | None:
        """Minimal eps per example and (defense, scenario) (columns ``defense``, ``threat_model``, ``index``,
        ``min_eps``, [0, 1] scale; 0 when misclassified clean, inf beyond the maximum); None without ``min_eps``."""
        if not self.spec.min_eps:
            return None
        index = self.store.column("index")
        return pd.concat(
            [
                pd.DataFrame(
                    {
                        "defense": d.key,
                        "threat_model": scenario,
                        "index": index,
                        "min_eps": self.store.column(array_name("mineps", j)).astype(np.float64),
                    }
                )
                for j, (d, scenario) in enumerate(min_eps_pairs(self.grid.defenses))
            ],
            ignore_index=True,
        )


def gradient_totals(grid: AttackGrid, store: OutcomeStore) -> dict[str, dict[str, int]]:
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


def attack_seconds(grid: AttackGrid, store: OutcomeStore) -> dict[str, float]:
    """Wall time of each cascade stage row (``autoattack:apgd-ce``, ..., and the cascade's own row),
    summed over the run's batches, by cell key (run.json's ``attack_seconds``)."""
    totals = np.zeros(len(grid.cells))
    for start in store.starts:  # every chunk of the grid's batches carries its "seconds" array
        totals += store.read(start, "seconds")
    return {cell.key: round(float(t), 3) for cell, t in zip(grid.cells, totals) if t > 0}
