"""``Grid``: what every batch of a run needs, i.e. the cells, the model each defense's rows are
scored on, and where each cell's outcomes go in a chunk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from ..attacks.base import eval_mode
from ..cells import Cell
from ..defenses.spec import DefenseSpec
from .config import BenchConfig, plan_cells, runs_attack, scenarios

__all__ = ["Grid", "defense_modules"]


def defense_modules(bare: nn.Module, defenses: Sequence[DefenseSpec], target: torch.device | str,
                    bpda: bool = False) -> dict[str, nn.Module]:
    """The model each defense's rows are scored on (``bpda``: attacked through, for the input
    transforms), on ``target``, in eval mode."""
    with eval_mode(bare):
        modules = {d.key: d.apply(bare, bpda=True) if bpda else d.apply(bare)
                   for d in defenses if not bpda or d.is_input_transform}
        return {key: module.to(target).eval() for key, module in modules.items()}


@dataclass
class Grid:
    """A run's grid: ``cells`` in table order, the ``defenses`` (positions of their clean
    predictions in a chunk), the scored ``modules`` and BPDA twins per defense key."""

    config: BenchConfig
    dataset_name: str
    defenses: list[DefenseSpec]
    modules: dict[str, nn.Module] = field(default_factory=dict)
    bpda_modules: dict[str, nn.Module] = field(default_factory=dict)
    num_classes: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __post_init__(self) -> None:
        self.cells: list[Cell] = plan_cells(self.config, self.dataset_name, self.defenses)
        self.positions: dict[Cell, int] = {cell: i for i, cell in enumerate(self.cells)}
        self.defense_position = {d.key: j for j, d in enumerate(self.defenses)}
        self.defense_of: dict[str, DefenseSpec] = {d.key: d for d in self.defenses}
        self.options = self.config.attack_options(self.num_classes)

    def cell(self, defense: DefenseSpec | str, scenario: str, attack: str, eps: float) -> Cell:
        """The grid's cell for these settings (dataset, model and norm are the grid's)."""
        key = defense if isinstance(defense, str) else defense.key
        return Cell(self.dataset_name, self.config.model, key, scenario, attack, self.config.threat(eps))

    def position(self, defense: DefenseSpec | str, scenario: str, attack: str, eps: float) -> int:
        return self.positions[self.cell(defense, scenario, attack, eps)]

    def units(self) -> int:
        """Attack runs per batch, for the progress bar."""
        count = 0
        for attack in self.config.attacks:
            bare_needed = any(runs_attack(d, t, attack) for d in self.defenses for t in scenarios(d) if t != "adaptive")
            count += len(self.config.eps) * (int(bare_needed) + sum(
                runs_attack(d, "adaptive", attack) for d in self.defenses if d.kind != "none"))
        return max(count, 1)
