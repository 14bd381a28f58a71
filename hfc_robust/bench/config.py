"""``BenchConfig`` and the grid it describes: typed :class:`~hfc_robust.cells.Cell` values, in table order."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..attacks.defaults import DEFAULT_QUERIES
from ..attacks.registry import ATTACKS, AttackOptions, get_attack
from ..cells import NO_ATTACK, NORMS, WORST_CASE, Cell
from ..defenses.spec import NO_DEFENSE, DefenseSpec
from ..errors import HfcError
from .defaults import DEFAULT_SPOT_CHECK

__all__ = ["BenchConfig", "plan_cells", "threats", "runs_attack", "attack_rows", "TABLE_COLUMNS", "DEFAULT_SPOT_CHECK",
           "WORST_CASE"]

TABLE_COLUMNS = ["dataset", "model", "defense", "radius", "rho", "norm", "attack", "eps", "eps_255", "threat_model", "n",
                 "correct", "accuracy", "ci_low", "ci_high", "energy_inside_radius", "inband_l2", "cell"]


@dataclass
class BenchConfig:
    """Everything that determines a bench table. eps/alpha on the [0, 1] pixel scale;
    radii in frequency bins; rhos are the Eq. 3 smoothing strengths. ``min_eps`` adds each
    example's minimal PGD eps per (defense, threat), bisected up to ``min_eps_max`` ([0, 1]
    scale; default twice the largest grid eps, see :mod:`hfc_robust.bench.mineps`)."""

    dataset: str = "fmnist"
    model: str = "fmnist-cnn"
    norm: str = "linf"
    weights: str | None = None
    n: int | None = 1000
    attacks: tuple[str, ...] = ("pgd",)
    eps: tuple[float, ...] = (8 / 255,)
    radii: tuple[float, ...] = ()
    rhos: tuple[float, ...] = ()
    smooth_normalize: bool = False
    inclusive: bool = True
    steps: int = 10
    alpha: float | None = None
    restarts: int = 1
    loss: str = "ce"
    seed: int = 0
    batch_size: int = 250
    data_dir: str | None = None
    random_start: bool = True
    queries: int = DEFAULT_QUERIES
    spot_check: int = DEFAULT_SPOT_CHECK
    min_eps: bool = False
    min_eps_max: float | None = None

    def __post_init__(self) -> None:
        self.attacks = tuple(self.attacks)
        self.eps = tuple(sorted({float(e) for e in self.eps}))
        self.radii = tuple(float(r) for r in self.radii)
        self.rhos = tuple(float(r) for r in self.rhos)
        for name in self.attacks:
            get_attack(name)
        if self.norm not in NORMS:
            raise HfcError(f"unknown norm {self.norm!r}", f"use one of {', '.join(NORMS)}")
        if self.norm != "linf":
            raise HfcError(f"norm {self.norm} is not supported yet", "use --norm linf")
        for eps in self.eps:
            if not 0.0 <= eps <= 1.0:
                raise HfcError(f"eps {eps} is outside [0, 1]", "eps is on the [0, 1] pixel scale, e.g. 8/255")
        for radius in self.radii:
            if not radius >= 0:
                raise HfcError(f"radius must be >= 0 frequency bins, got {radius}", "pass e.g. --radius 4,8")
        for rho in self.rhos:
            if not rho >= 0:
                raise HfcError(f"rho must be >= 0, got {rho}", "pass e.g. --rho 0.5,1.0")
        if self.steps < 1 or self.restarts < 1 or self.batch_size < 1:
            raise HfcError("steps, restarts and batch size must be >= 1", "pass positive integers")
        if self.restarts > 1 and not self.random_start:
            raise HfcError("PGD restarts need a random start", "drop --no-random-start or use --restarts 1")
        if self.queries < 1 or self.spot_check < 0:
            raise HfcError("--queries must be >= 1 and --spot-check >= 0", "pass e.g. --queries 5000 --spot-check 100")
        if self.queries != DEFAULT_QUERIES and "autoattack" in self.attacks and "square" not in self.attacks:
            # --queries is the stand-alone square row's budget; an autoattack row always runs the standard 5,000
            raise HfcError(f"--queries {self.queries} would not change autoattack, whose Square always makes the "
                           f"standard {DEFAULT_QUERIES} queries (--queries sets only the square row's budget)",
                           "drop --queries, or add square to --attack for a square row with that budget")
        if self.min_eps_max is not None and not 0 < float(self.min_eps_max) <= 1:
            raise HfcError(f"--min-eps-max {self.min_eps_max} is outside (0, 1]", "pass e.g. --min-eps-max 32/255")
        if self.alpha is not None and not 0 < self.alpha <= 1:
            raise HfcError(f"step size {self.alpha} is outside (0, 1]", "pass e.g. --step-size 2/255")

    def defenses(self) -> list[DefenseSpec]:
        specs = [NO_DEFENSE]
        specs += [DefenseSpec("lowpass", radius=r, inclusive=self.inclusive) for r in self.radii]
        specs += [DefenseSpec("smooth", rho=r, normalize=self.smooth_normalize) for r in self.rhos]
        return specs

    def to_dict(self) -> dict:
        return asdict(self)

    def attack_options(self, num_classes: int) -> AttackOptions:
        return AttackOptions(steps=self.steps, alpha=self.alpha, restarts=self.restarts, loss=self.loss, seed=self.seed,
                             random_start=self.random_start, queries=self.queries, num_classes=num_classes)

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def threats(defense: DefenseSpec) -> tuple[str, ...]:
    return ("whitebox",) if defense.kind == "none" else ("oblivious", "adaptive")


def runs_attack(defense: DefenseSpec, threat: str, attack: str) -> bool:
    if ATTACKS[attack].bpda:  # BPDA only means something for a non-differentiated input transform
        return threat == "adaptive" and defense.is_input_transform
    return True


def attack_rows(attack: str) -> list[str]:
    """The table rows one attack produces: its own, preceded by one per cascade stage
    (``autoattack:apgd-ce``, ... robust after that stage, cumulatively)."""
    stages = ATTACKS[attack].stages
    return [f"{attack}:{stage}" for stage in stages] + [attack]


def plan_cells(config: BenchConfig, dataset_name: str | None = None,
               defenses: Sequence[DefenseSpec] | None = None) -> list[Cell]:
    """All cells of a grid, in table order.

    ``worst-case`` rows (an example is robust only if every attack of the grid failed) are
    added when a threat model has more than one attack; they are the only rows that depend on
    which other attacks are in the grid, and their name says so.
    """
    dataset_name = dataset_name or config.dataset
    cells = []
    for defense in (config.defenses() if defenses is None else defenses):
        def cell(threat: str, attack: str, eps: float) -> Cell:
            return Cell(dataset_name, config.model, defense.key, threat, attack, eps, config.norm)

        cells.append(cell("clean", NO_ATTACK, 0.0))
        for threat in threats(defense):
            attacks = [a for a in config.attacks if runs_attack(defense, threat, a)]
            rows = [row for attack in attacks for row in attack_rows(attack)]
            for attack in rows + ([WORST_CASE] if len(attacks) > 1 else []):
                cells += [cell(threat, attack, eps) for eps in config.eps]
    return cells
