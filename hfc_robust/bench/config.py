"""``BenchConfig`` and the grid it describes: typed :class:`~hfc_robust.cells.Cell` values, in table order."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..attacks.defaults import DEFAULT_QUERIES
from ..attacks.registry import ATTACKS, AttackOptions, get_attack
from ..cells import NO_ATTACK, WORST_CASE, Cell
from ..defenses.spec import DefenseSpec, defense_grid
from ..errors import HfcError
from ..threat import Norm, ThreatModel
from .defaults import DEFAULT_SPOT_CHECK

__all__ = ["BenchConfig", "plan_cells", "scenarios", "runs_attack", "attack_rows", "TABLE_COLUMNS", "DEFAULT_SPOT_CHECK",
           "WORST_CASE", "with_default_eps"]

TABLE_COLUMNS = ["dataset", "model", "defense", "radius", "rho", "norm", "attack", "eps", "eps_255", "threat_model", "n",
                 "correct", "accuracy", "ci_low", "ci_high", "energy_inside_radius", "inband_l2", "cell"]


@dataclass
class BenchConfig:
    """Everything that determines a bench table. eps/alpha on the [0, 1] pixel scale, radii of
    the threat model's ``norm`` ball (``linf`` or ``l2``; one norm per run); radii in frequency
    bins; rhos are the Eq. 3 smoothing strengths. ``min_eps`` adds each example's minimal PGD
    eps per (defense, threat), bisected up to ``min_eps_max`` ([0, 1] scale; default twice the
    largest grid eps, see :mod:`hfc_robust.bench.mineps`).

    ``eps=None`` takes the norm's default: 8/255 for L-inf at once; for L2 it depends on the
    images' shape, so it stays ``None`` until :func:`with_default_eps` sees the data
    (``bench_run`` and ``run_grid`` call it)."""

    dataset: str = "fmnist"
    model: str = "fmnist-cnn"
    norm: Norm = Norm.LINF
    weights: str | None = None
    n: int | None = 1000
    attacks: tuple[str, ...] = ("pgd",)
    eps: tuple[float, ...] | None = None
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
        if not isinstance(self.norm, str):
            raise HfcError(f"norm must be one of {', '.join(n.value for n in Norm)}, got {self.norm!r}",
                           "one norm per run: run linf and l2 separately (compare and report read both)")
        self.norm = Norm.parse(self.norm)
        if self.eps is None and self.norm is Norm.LINF:
            self.eps = (self.norm.default_eps(()),)
        if self.eps is not None:
            self.eps = tuple(sorted({self.norm.check_eps(e) for e in self.eps}))
        self.radii = tuple(float(r) for r in self.radii)
        self.rhos = tuple(float(r) for r in self.rhos)
        for name in self.attacks:
            get_attack(name)
        self.defenses()  # validates the radii and rhos
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
        if self.min_eps_max is not None:
            self.min_eps_max = self.norm.check_eps(self.min_eps_max, "--min-eps-max")
        if self.alpha is not None:
            self.alpha = self.norm.check_eps(self.alpha, "step size")
        for name, value in (("--min-eps-max", self.min_eps_max), ("step size", self.alpha)):
            if value == 0:
                raise HfcError(f"{name} must be > 0", f"pass e.g. {self.norm.example_eps}")

    def defenses(self) -> list[DefenseSpec]:
        return defense_grid(self.radii, self.rhos, self.inclusive, self.smooth_normalize)

    def to_dict(self) -> dict:
        record = asdict(self)
        record["norm"] = self.norm.value
        return record

    def threat(self, eps: float) -> ThreatModel:
        """The grid's threat model at radius ``eps``."""
        return ThreatModel(self.norm, eps)

    def attack_options(self, num_classes: int) -> AttackOptions:
        return AttackOptions(steps=self.steps, step_size=self.alpha, restarts=self.restarts, loss=self.loss,
                             seed=self.seed, random_start=self.random_start, queries=self.queries,
                             num_classes=num_classes)

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def with_default_eps(config: BenchConfig, shape: Sequence[int]) -> BenchConfig:
    """``config`` with ``eps=None`` replaced by the norm's default for images of ``shape``
    (:meth:`~hfc_robust.threat.Norm.default_eps`)."""
    if config.eps is not None:
        return config
    return dataclasses.replace(config, eps=(config.norm.default_eps(shape),))


def scenarios(defense: DefenseSpec) -> tuple[str, ...]:
    return ("whitebox",) if defense.kind == "none" else ("oblivious", "adaptive")


def runs_attack(defense: DefenseSpec, scenario: str, attack: str) -> bool:
    if ATTACKS[attack].bpda:  # BPDA only means something for a non-differentiated input transform
        return scenario == "adaptive" and defense.is_input_transform
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
    if config.eps is None:
        raise HfcError(f"no eps for --norm {config.norm}", "pass eps, or let bench_run pick the default for the data")
    cells = []
    for defense in (config.defenses() if defenses is None else defenses):
        def cell(scenario: str, attack: str, eps: float) -> Cell:
            return Cell(dataset_name, config.model, defense.key, scenario, attack, config.threat(eps))

        cells.append(cell("clean", NO_ATTACK, 0.0))
        for scenario in scenarios(defense):
            attacks = [a for a in config.attacks if runs_attack(defense, scenario, a)]
            rows = [row for attack in attacks for row in attack_rows(attack)]
            for attack in rows + ([WORST_CASE] if len(attacks) > 1 else []):
                cells += [cell(scenario, attack, eps) for eps in config.eps]
    return cells
