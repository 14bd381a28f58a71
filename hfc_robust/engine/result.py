"""``EngineResult``: what the engine returns for either kind of run, the interface every layer above
reads (the table, one cell's per-example outcomes, the per-example frames for examples.csv.gz).

Per-example outcomes live in an :class:`~hfc_robust.engine.checkpoint.OutcomeStore` (memory, or the
run's checkpoint folder) and are read one cell at a time, so writing the tables and
``examples.csv.gz`` needs memory for one cell's column, not the whole grid's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..cells import Cell, CorruptionCell
from ..defenses.spec import DefenseSpec
from ..spec import RunSpec
from .checkpoint import OutcomeStore

__all__ = ["EngineResult"]


@dataclass
class EngineResult:
    """A finished grid: its ``spec``, the ``grid`` it ran (cells, defenses, scored modules), the
    ``store`` of per-example outcomes, the ``table`` built from them, and ``provenance`` (device,
    wall time, the model's identity, ...); ``resumed_rows`` came from an earlier, interrupted run."""

    spec: RunSpec
    grid: Any
    store: OutcomeStore
    provenance: dict = field(default_factory=dict)
    resumed_rows: int = 0
    table: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        self.table = self.build_table()

    @property
    def cells(self) -> list[Cell] | list[CorruptionCell]:
        return self.grid.cells

    @property
    def defenses(self) -> list[DefenseSpec]:
        return self.grid.defenses

    def build_table(self) -> pd.DataFrame:
        raise NotImplementedError

    def outcomes(self, cell: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(example indices, robust or correct as bool)`` of one cell, in dataset order."""
        raise NotImplementedError

    def example_frames(self) -> Iterator[pd.DataFrame]:
        """One DataFrame per cell, in table order (examples.csv.gz's rows)."""
        raise NotImplementedError

    def spectra(self) -> dict:
        raise NotImplementedError

    @property
    def examples(self) -> pd.DataFrame:
        """Every cell's per-example rows in one DataFrame (convenient for small runs)."""
        frames = list(self.example_frames())
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
