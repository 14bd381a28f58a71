"""``CorruptionConfig`` and the cells of a corruption grid (``hfc-robust corruptions``), in table order."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..cells import CLEAN_CORRUPTION, CorruptionCell
from ..corruptions.registry import CORRUPTIONS, SEVERITIES, get_corruption
from ..defenses.spec import DefenseSpec, defense_grid
from ..errors import HfcError

__all__ = ["CorruptionConfig", "plan_corruption_cells", "CORRUPTION_COLUMNS", "KIND"]

KIND = "corruptions"  #: run.json's ``kind`` and the Ray job kind of a corruption run
CORRUPTION_COLUMNS = ["dataset", "model", "defense", "radius", "rho", "corruption", "family", "severity", "n", "correct",
                      "accuracy", "ci_low", "ci_high", "energy_inside_radius", "cell"]


@dataclass
class CorruptionConfig:
    """Everything that determines a corruption table: the model and data (as in ``BenchConfig``),
    the corruptions (registry names) and severities (1..5), the defenses (low-pass ``radii`` in
    frequency bins, ``inclusive``: mask ``<= r``; Eq. 3 smoothing strengths ``rhos``), the seed of
    every corruption's random numbers, and the batch size (which changes no outcome)."""

    dataset: str = "fmnist"
    model: str = "fmnist-cnn"
    weights: str | None = None
    n: int | None = 1000
    corruptions: tuple[str, ...] = tuple(CORRUPTIONS)
    severities: tuple[int, ...] = SEVERITIES
    radii: tuple[float, ...] = ()
    rhos: tuple[float, ...] = ()
    smooth_normalize: bool = False
    inclusive: bool = True
    seed: int = 0
    batch_size: int = 250
    data_dir: str | None = None

    def __post_init__(self) -> None:
        self.corruptions = tuple(dict.fromkeys(self.corruptions))
        self.severities = tuple(sorted(set(int(s) for s in self.severities)))
        self.radii = tuple(float(r) for r in self.radii)
        self.rhos = tuple(float(r) for r in self.rhos)
        if not self.corruptions:
            raise HfcError("no corruption given", f"choose from {', '.join(CORRUPTIONS)}")
        for name in self.corruptions:
            get_corruption(name)
        if not self.severities or any(s not in SEVERITIES for s in self.severities):
            raise HfcError(f"severities must be among 1..5, got {list(self.severities)}", "pass e.g. --severity 1,3,5")
        self.defenses()  # validates the radii and rhos
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise HfcError(f"seed must be an integer >= 0, got {self.seed!r}", "pass e.g. --seed 0")
        if self.batch_size < 1:
            raise HfcError("batch size must be >= 1", "pass a positive integer")

    def defenses(self) -> list[DefenseSpec]:
        return defense_grid(self.radii, self.rhos, self.inclusive, self.smooth_normalize)

    def pairs(self) -> list[tuple[str, int]]:
        """(corruption, severity) in table order: the positions of the spectrum sums in a chunk."""
        return [(name, severity) for name in self.corruptions for severity in self.severities]

    def to_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self) -> str:
        """The configuration's hash, for checkpoint keys (with the batch size: a checkpoint's chunks
        are batches, and shards are whole batches)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def plan_corruption_cells(config: CorruptionConfig, dataset_name: str | None = None,
                          defenses: Sequence[DefenseSpec] | None = None) -> list[CorruptionCell]:
    """Per defense: its clean row, then every (corruption, severity)."""
    dataset_name = dataset_name or config.dataset
    cells = []
    for defense in (config.defenses() if defenses is None else defenses):
        cells.append(CorruptionCell(dataset_name, config.model, defense.key, CLEAN_CORRUPTION, 0))
        cells += [CorruptionCell(dataset_name, config.model, defense.key, name, severity)
                  for name, severity in config.pairs()]
    return cells
