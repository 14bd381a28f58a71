"""The grids a batch is evaluated over: the cells, the model each defense's rows are scored on,
and where each cell's outcomes go in a chunk. :class:`AttackGrid` for a
:class:`~hfc_robust.spec.BenchSpec`, :class:`CorruptionGrid` for a :class:`~hfc_robust.spec.CorruptionSpec`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from ..cells import Cell, CorruptionCell
from ..defenses.spec import DefenseSpec
from ..ops.modes import eval_mode
from ..spec import BenchSpec, CorruptionSpec
from ..threat import ThreatModel
from .plan import plan_cells, plan_corruption_cells, runs_attack, scenarios

__all__ = ["AttackGrid", "CorruptionGrid", "defense_modules"]


def defense_modules(
    bare: nn.Module, defenses: Sequence[DefenseSpec], target: torch.device | str, bpda: bool = False
) -> dict[str, nn.Module]:
    """The model each defense's rows are scored on (``bpda``: attacked through, for the input
    transforms), on ``target``, in eval mode."""
    with eval_mode(bare):
        modules = {
            d.key: d.apply(bare, bpda=True) if bpda else d.apply(bare)
            for d in defenses
            if not bpda or d.is_input_transform
        }
        return {key: module.to(target).eval() for key, module in modules.items()}


@dataclass
class AttackGrid:
    """An attack run's grid: ``cells`` in table order, the ``defenses`` (positions of their clean
    predictions in a chunk), the scored ``modules`` and BPDA twins per defense key."""

    spec: BenchSpec
    dataset_name: str
    defenses: list[DefenseSpec]
    modules: dict[str, nn.Module] = field(default_factory=dict)
    bpda_modules: dict[str, nn.Module] = field(default_factory=dict)
    num_classes: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __post_init__(self) -> None:
        self.cells: list[Cell] = plan_cells(self.spec, self.dataset_name, self.defenses)
        self.positions: dict[Cell, int] = {cell: i for i, cell in enumerate(self.cells)}
        self.defense_position = {d.key: j for j, d in enumerate(self.defenses)}
        self.defense_of: dict[str, DefenseSpec] = {d.key: d for d in self.defenses}
        self.options = self.spec.attack_options(self.num_classes)

    def cell(self, defense: DefenseSpec | str, scenario: str, attack: str, threat: ThreatModel | float) -> Cell:
        """The grid's cell for these settings (dataset and model are the grid's); ``threat`` a threat model
        of the grid, or an eps (the grid's norm, the whole spectrum)."""
        key = defense if isinstance(defense, str) else defense.key
        if not isinstance(threat, ThreatModel):
            threat = self.spec.threat(threat)
        return Cell(self.dataset_name, self.spec.model, key, scenario, attack, threat)

    def position(self, defense: DefenseSpec | str, scenario: str, attack: str, threat: ThreatModel | float) -> int:
        return self.positions[self.cell(defense, scenario, attack, threat)]

    def units(self) -> int:
        """Attack runs per batch, for the progress bar."""
        count = 0
        for attack in self.spec.attacks:
            bare_needed = any(runs_attack(d, s, attack) for d in self.defenses for s in scenarios(d) if s != "adaptive")
            count += len(self.spec.threats()) * (
                int(bare_needed) + sum(runs_attack(d, "adaptive", attack) for d in self.defenses if d.kind != "none")
            )
        return max(count, 1)


@dataclass
class CorruptionGrid:
    """A corruption run's grid: ``cells`` in table order, the scored ``modules`` per defense key."""

    spec: CorruptionSpec
    dataset_name: str
    defenses: list[DefenseSpec]
    modules: dict[str, nn.Module] = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __post_init__(self) -> None:
        self.cells: list[CorruptionCell] = plan_corruption_cells(self.spec, self.dataset_name, self.defenses)
        self.positions = {cell: i for i, cell in enumerate(self.cells)}
        self.defense_position = {d.key: j for j, d in enumerate(self.defenses)}
        self.defense_of = {d.key: d for d in self.defenses}
        self.pairs = self.spec.pairs()
        self.pair_position = {pair: k for k, pair in enumerate(self.pairs)}

    def position(self, defense: str, corruption: str, severity: int) -> int:
        return self.positions[CorruptionCell(self.dataset_name, self.spec.model, defense, corruption, severity)]
