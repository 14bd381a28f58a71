"""The attack registry: one entry per attack, listed by ``hfc-robust list``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import HfcError
from .defaults import COMPONENTS, DEFAULT_QUERIES, FAST_COMPONENTS, FAST_TARGETS

if TYPE_CHECKING:  # torch and torchattacks load only when an attack is built, so listing them is fast
    import torch.nn as nn

__all__ = ["AttackOptions", "AttackSpec", "ATTACKS", "list_attacks", "get_attack"]


@dataclass(frozen=True)
class AttackOptions:
    """Attack settings from the grid. ``steps``, ``alpha``, ``restarts``, ``loss`` and
    ``random_start`` are PGD's (and FGSM's loss); APGD, FAB-T and AutoAttack use AutoAttack's
    standard budget; ``queries`` is the stand-alone ``square`` row's (never AutoAttack's, whose
    Square always gets the standard 5,000). ``alpha`` on the [0, 1] pixel scale; ``norm`` the
    threat model (``linf`` or ``l2``)."""

    steps: int = 10
    alpha: float | None = None
    restarts: int = 1
    loss: str = "ce"
    seed: int = 0
    random_start: bool = True
    queries: int = DEFAULT_QUERIES
    num_classes: int = 10
    norm: str = "linf"


@dataclass(frozen=True)
class AttackSpec:
    """A registry entry: ``build(model, eps, options)`` returns an attack with ``run(images, labels, ids)``.

    ``bpda``: runs through the defense's BPDA twin (input transforms only). ``gradient_free``:
    needs no gradient (a check for gradient masking). ``stages``: the cascade's components.
    """

    name: str
    description: str
    bpda: bool = False
    gradient_free: bool = False
    stages: tuple[str, ...] = ()

    def build(self, model: nn.Module, eps: float, options: AttackOptions = AttackOptions()):
        from .apgd import APGD, APGDT
        from .autoattack import AutoAttack
        from .fab import FABT
        from .malt import AutoAttackFast
        from .fgsm import FGSM
        from .pgd import PGD
        from .square import Square

        o = options
        if self.name == "fgsm":
            return FGSM(model, eps=eps, loss=o.loss)
        if self.name in ("pgd", "bpda-pgd"):
            return PGD(model, eps=eps, alpha=o.alpha, steps=o.steps, random_start=o.random_start, restarts=o.restarts,
                       loss=o.loss, seed=o.seed)
        if self.name == "apgd-ce":
            return APGD(model, eps, seed=o.seed, norm=o.norm)
        if self.name == "apgd-t":
            return APGDT(model, eps, seed=o.seed, num_classes=o.num_classes, norm=o.norm)
        if self.name == "fab-t":
            return FABT(model, eps, seed=o.seed, num_classes=o.num_classes, norm=o.norm)
        if self.name == "square":
            return Square(model, eps, queries=o.queries, seed=o.seed, norm=o.norm)
        if self.name == "autoattack":  # always the standard budgets: --queries is the square row's
            return AutoAttack(model, eps, seed=o.seed, num_classes=o.num_classes, norm=o.norm)
        if self.name == "autoattack-fast":
            return AutoAttackFast(model, eps, seed=o.seed, num_classes=o.num_classes, norm=o.norm)
        raise HfcError(f"attack {self.name!r} has no builder", "this is a bug in the attack registry")


ATTACKS: dict[str, AttackSpec] = {
    "fgsm": AttackSpec("fgsm", "FGSM (Goodfellow et al. 2015), one signed-gradient step, via torchattacks"),
    "pgd": AttackSpec("pgd", "L-inf PGD (Madry et al. 2018), random start, first success per example, restarts"),
    "bpda-pgd": AttackSpec("bpda-pgd", "PGD through the input filter with identity gradients (BPDA, Athalye et al. 2018); "
                                       "exact forward pass. Only for input-transform defenses", bpda=True),
    "apgd-ce": AttackSpec("apgd-ce", "APGD with cross-entropy (Croce & Hein 2020), 100 steps; the reference's "
                                     "algorithm, checked against it"),
    "apgd-t": AttackSpec("apgd-t", "APGD-T, targeted DLR loss against the min(9, C-1) likeliest wrong classes, 100 steps"),
    "fab-t": AttackSpec("fab-t", "FAB-T, targeted minimal-perturbation attack (Croce & Hein 2020), min(9, C-1) targets, "
                                 "100 steps"),
    "square": AttackSpec("square", "Square (Andriushchenko et al. 2020), gradient-free, --queries (default 5,000)",
                         gradient_free=True),
    "autoattack": AttackSpec("autoattack", "AutoAttack standard: APGD-CE, APGD-T, FAB-T, Square as a cascade with the "
                                           "standard budgets; per-example worst case (the number to cite)",
                             stages=COMPONENTS),
    "autoattack-fast": AttackSpec("autoattack-fast", "NOT the standard: APGD-CE, then APGD-T against the "
                                                     f"{FAST_TARGETS} wrong classes MALT ranks nearest (Melamed et al. "
                                                     "2024); a fraction of AutoAttack's cost", stages=FAST_COMPONENTS),
}


def list_attacks() -> dict[str, AttackSpec]:
    return dict(ATTACKS)


def get_attack(name: str) -> AttackSpec:
    if name not in ATTACKS:
        raise HfcError(f"unknown attack {name!r}", f"choose from {', '.join(ATTACKS)}")
    return ATTACKS[name]
