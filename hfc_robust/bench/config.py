"""``BenchConfig`` and the grid it describes: cells with stable keys, in table order."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..attacks.defaults import DEFAULT_QUERIES
from ..attacks.registry import ATTACKS, AttackOptions, get_attack
from ..defenses.spec import NO_DEFENSE, DefenseSpec
from ..errors import HfcError
from .defaults import DEFAULT_SPOT_CHECK

__all__ = ["BenchConfig", "cell_key", "plan_cells", "threats", "runs_attack", "attack_rows", "TABLE_COLUMNS", "THREAT_ORDER",
           "DEFAULT_SPOT_CHECK", "WORST_CASE"]

WORST_CASE = "worst-case"

TABLE_COLUMNS = ["dataset", "model", "defense", "radius", "rho", "attack", "eps", "eps_255", "threat_model", "n",
                 "correct", "accuracy", "ci_low", "ci_high", "energy_inside_radius", "inband_l2", "cell"]
THREAT_ORDER = {"clean": 0, "whitebox": 1, "oblivious": 2, "adaptive": 3}


@dataclass
class BenchConfig:
    """Everything that determines a bench table. eps/alpha on the [0, 1] pixel scale;
    radii in frequency bins; rhos are the Eq. 3 smoothing strengths. ``min_eps`` adds each
    example's minimal PGD eps per (defense, threat), bisected up to ``min_eps_max`` ([0, 1]
    scale; default twice the largest grid eps, see :mod:`hfc_robust.bench.mineps`)."""

    dataset: str = "fmnist"
    model: str = "fmnist-cnn"
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


def cell_key(dataset: str, model: str, defense: str, threat: str, attack: str, eps: float) -> str:
    """Stable identifier of one grid cell, e.g. ``fmnist/fmnist-cnn/lowpass-r8/adaptive/pgd/eps=0.0313725``."""
    return f"{dataset}/{model}/{defense}/{threat}/{attack}/eps={eps:.7f}"


def threats(defense: DefenseSpec) -> tuple[str, ...]:
    return ("whitebox",) if defense.kind == "none" else ("oblivious", "adaptive")


def runs_attack(defense: DefenseSpec, threat: str, attack: str) -> bool:
    if ATTACKS[attack].bpda:  # BPDA only means something for a non-differentiated input transform
        return threat == "adaptive" and not defense.differentiable_everywhere
    return True


def attack_rows(attack: str) -> list[str]:
    """The table rows one attack produces: its own, preceded by one per cascade stage
    (``autoattack:apgd-ce``, ... robust after that stage, cumulatively)."""
    stages = ATTACKS[attack].stages
    return [f"{attack}:{stage}" for stage in stages] + [attack]


def plan_cells(config: BenchConfig, dataset_name: str | None = None,
               defenses: Sequence[DefenseSpec] | None = None) -> list[dict]:
    """All cells of a grid, in table order, each with its stable ``cell`` key.

    ``worst-case`` rows (an example is robust only if every attack of the grid failed) are
    added when a threat model has more than one attack; they are the only rows that depend on
    which other attacks are in the grid, and their name says so.
    """
    dataset_name = dataset_name or config.dataset
    cells = []
    for defense in (config.defenses() if defenses is None else defenses):
        cells.append(dict(defense=defense, threat="clean", attack="none", eps=0.0))
        for threat in threats(defense):
            attacks = [a for a in config.attacks if runs_attack(defense, threat, a)]
            rows = [row for attack in attacks for row in attack_rows(attack)]
            for attack in rows + ([WORST_CASE] if len(attacks) > 1 else []):
                for eps in config.eps:
                    cells.append(dict(defense=defense, threat=threat, attack=attack, eps=eps))
    for cell in cells:
        cell["cell"] = cell_key(dataset_name, config.model, cell["defense"].key, cell["threat"], cell["attack"], cell["eps"])
    return cells
