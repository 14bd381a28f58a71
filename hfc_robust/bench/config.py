"""``BenchConfig`` and the grid it describes: typed :class:`~hfc_robust.cells.Cell` values, in table order."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..attacks.defaults import DEFAULT_QUERIES
from ..attacks.registry import ATTACKS, AttackOptions, get_attack
from ..cells import NO_ATTACK, NORMS, WORST_CASE, Cell
from ..defenses.spec import DefenseSpec, defense_grid
from ..errors import HfcError
from .defaults import DEFAULT_SPOT_CHECK

__all__ = ["BenchConfig", "plan_cells", "threats", "runs_attack", "attack_rows", "TABLE_COLUMNS", "DEFAULT_SPOT_CHECK",
           "WORST_CASE", "DEFAULT_EPS", "default_eps", "with_default_eps"]

#: The default eps per norm and image shape (C, H, W); ``None`` stands for any shape. L-inf: 8/255
#: everywhere; L2: 0.5 on 3 x 32 x 32 images (RobustBench's CIFAR-10 L2 threat model), no
#: default elsewhere (an L2 radius only means something relative to the image's dimension).
DEFAULT_EPS: dict[str, dict[tuple[int, int, int] | None, float]] = {"linf": {None: 8 / 255}, "l2": {(3, 32, 32): 0.5}}

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
    norm: str = "linf"
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
            raise HfcError(f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}",
                           "one norm per run: run linf and l2 separately (compare and report read both)")
        if self.norm not in NORMS:
            raise HfcError(f"unknown norm {self.norm!r}", f"use one of {', '.join(NORMS)}")
        if self.eps is None and self.norm == "linf":
            self.eps = (DEFAULT_EPS["linf"][None],)
        if self.eps is not None:
            self.eps = tuple(sorted({float(e) for e in self.eps}))
        self.radii = tuple(float(r) for r in self.radii)
        self.rhos = tuple(float(r) for r in self.rhos)
        for name in self.attacks:
            get_attack(name)
        for eps in self.eps or ():
            if self.norm == "linf" and not 0.0 <= eps <= 1.0:
                raise HfcError(f"eps {eps} is outside [0, 1]", "eps is on the [0, 1] pixel scale, e.g. 8/255")
            if self.norm == "l2" and not (math.isfinite(eps) and eps >= 0):
                raise HfcError(f"L2 eps {eps} is not a finite number >= 0", "pass an L2 radius on the [0, 1] pixel "
                               "scale, e.g. --eps 0.5")
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
        top, example = (1.0, "32/255") if self.norm == "linf" else (math.inf, "1.0")
        if self.min_eps_max is not None and not (0 < float(self.min_eps_max) <= top and math.isfinite(self.min_eps_max)):
            raise HfcError(f"--min-eps-max {self.min_eps_max} is outside (0, {top:g}]", f"pass e.g. --min-eps-max {example}")
        if self.alpha is not None and not (0 < self.alpha <= top and math.isfinite(self.alpha)):
            raise HfcError(f"step size {self.alpha} is outside (0, {top:g}]",
                           "pass e.g. --step-size " + ("2/255" if self.norm == "linf" else "0.1"))

    def defenses(self) -> list[DefenseSpec]:
        return defense_grid(self.radii, self.rhos, self.inclusive, self.smooth_normalize)

    def to_dict(self) -> dict:
        return asdict(self)

    def attack_options(self, num_classes: int) -> AttackOptions:
        return AttackOptions(steps=self.steps, alpha=self.alpha, restarts=self.restarts, loss=self.loss, seed=self.seed,
                             random_start=self.random_start, queries=self.queries, num_classes=num_classes,
                             norm=self.norm)

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def default_eps(norm: str, shape: Sequence[int]) -> float:
    """The default eps of ``norm`` for images of ``shape`` (C x H x W, or N x C x H x W): see
    :data:`DEFAULT_EPS`. HfcError (exit 2) when the norm has no default for that shape."""
    image = tuple(int(v) for v in shape)[-3:]
    defaults = DEFAULT_EPS[norm]
    if image in defaults:
        return defaults[image]
    if None in defaults:
        return defaults[None]
    known = ", ".join("x".join(map(str, s)) for s in defaults if s is not None)
    raise HfcError(f"--norm {norm} has no default eps for {'x'.join(map(str, image))} images (only for {known})",
                   f"pass --eps, the {norm.upper()} radius on the [0, 1] pixel scale (eps=(...,) in Python)")


def with_default_eps(config: BenchConfig, shape: Sequence[int]) -> BenchConfig:
    """``config`` with ``eps=None`` replaced by the norm's default for images of ``shape``."""
    if config.eps is not None:
        return config
    return dataclasses.replace(config, eps=(default_eps(config.norm, shape),))


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
    if config.eps is None:
        raise HfcError(f"no eps for --norm {config.norm}", "pass eps, or let bench_run pick the default for the data")
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
