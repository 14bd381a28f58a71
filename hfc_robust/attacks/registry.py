"""The attack registry: one entry per attack, listed by ``hfc-robust list``."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import HfcError
from .defaults import COMPONENTS, DEFAULT_QUERIES

if TYPE_CHECKING:  # torch and torchattacks load only when an attack is built, so listing them is fast
    import torch.nn as nn

__all__ = ["AttackOptions", "AttackSpec", "ATTACKS", "list_attacks", "get_attack", "norm_kwargs"]


@dataclass(frozen=True)
class AttackOptions:
    """Attack settings from the grid. ``steps``, ``alpha``, ``restarts``, ``loss`` and
    ``random_start`` are PGD's (and FGSM's loss); APGD, FAB-T and AutoAttack use AutoAttack's
    standard budget; ``queries`` is Square's. ``alpha`` on the [0, 1] pixel scale. ``norm``:
    the threat model, ``linf`` or ``l2``, for every attack."""

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
        from .fgsm import FGSM
        from .pgd import PGD
        from .square import Square

        o = options
        if self.name == "fgsm":
            return FGSM(model, eps=eps, loss=o.loss, norm=o.norm)
        if self.name in ("pgd", "bpda-pgd"):
            return PGD(model, eps=eps, alpha=o.alpha, steps=o.steps, random_start=o.random_start, restarts=o.restarts,
                       loss=o.loss, seed=o.seed, norm=o.norm)
        if self.name == "apgd-ce":
            return APGD(model, eps, seed=o.seed, **norm_kwargs(APGD, o.norm, self.name))
        if self.name == "apgd-t":
            return APGDT(model, eps, seed=o.seed, num_classes=o.num_classes, **norm_kwargs(APGDT, o.norm, self.name))
        if self.name == "fab-t":
            return FABT(model, eps, seed=o.seed, num_classes=o.num_classes, **norm_kwargs(FABT, o.norm, self.name))
        if self.name == "square":
            return Square(model, eps, queries=o.queries, seed=o.seed, **norm_kwargs(Square, o.norm, self.name))
        if self.name == "autoattack":
            return AutoAttack(model, eps, seed=o.seed, num_classes=o.num_classes, queries=o.queries,
                              **norm_kwargs(AutoAttack, o.norm, self.name))
        raise HfcError(f"attack {self.name!r} has no builder", "this is a bug in the attack registry")

    def check_norm(self, norm: str) -> None:
        """HfcError, before anything runs, when this attack has no version in ``norm``."""
        from . import apgd, autoattack, fab, fgsm, pgd, square

        classes = {"fgsm": fgsm.FGSM, "pgd": pgd.PGD, "bpda-pgd": pgd.PGD, "apgd-ce": apgd.APGD, "apgd-t": apgd.APGDT,
                   "fab-t": fab.FABT, "square": square.Square, "autoattack": autoattack.AutoAttack}
        norm_kwargs(classes[self.name], norm, self.name)


def norm_kwargs(cls: type, norm: str, name: str | None = None) -> dict:
    """``{"norm": norm}`` for an attack class that takes a ``norm`` argument. A class without one
    is L-inf only: ``{}`` for ``linf``, an HfcError for any other norm (one line, exit 2)."""
    if "norm" in inspect.signature(cls.__init__).parameters:
        return {"norm": norm}
    if norm == "linf":
        return {}
    raise HfcError(f"attack {name or cls.__name__} has no {norm} version in this hfc-robust",
                   "use --attack fgsm, pgd or bpda-pgd with --norm l2, or --norm linf")


ATTACKS: dict[str, AttackSpec] = {
    "fgsm": AttackSpec("fgsm", "FGSM (Goodfellow et al. 2015), one signed-gradient step of eps (via torchattacks); "
                               "with --norm l2, FGM: one step of eps along the L2-normalised gradient"),
    "pgd": AttackSpec("pgd", "PGD (Madry et al. 2018), L-inf sign steps or, with --norm l2, L2-normalised steps and L2 "
                             "projection; random start, first success per example, restarts"),
    "bpda-pgd": AttackSpec("bpda-pgd", "PGD (L-inf or L2, --norm) through the input filter with identity gradients "
                                       "(BPDA, Athalye et al. 2018); exact forward pass. Only for input-transform "
                                       "defenses", bpda=True),
    "apgd-ce": AttackSpec("apgd-ce", "APGD with cross-entropy (Croce & Hein 2020), 100 steps, via torchattacks"),
    "apgd-t": AttackSpec("apgd-t", "APGD-T, targeted DLR loss against the 9 likeliest wrong classes, 100 steps, via torchattacks"),
    "fab-t": AttackSpec("fab-t", "FAB-T, targeted minimal-perturbation attack (Croce & Hein 2020), via torchattacks"),
    "square": AttackSpec("square", "Square (Andriushchenko et al. 2020), gradient-free, --queries (default 5,000), via "
                                   "torchattacks", gradient_free=True),
    "autoattack": AttackSpec("autoattack", "AutoAttack standard: APGD-CE, APGD-T, FAB-T, Square as a cascade; per-example "
                                           "worst case (the number to cite)", stages=COMPONENTS),
}


def list_attacks() -> dict[str, AttackSpec]:
    return dict(ATTACKS)


def get_attack(name: str) -> AttackSpec:
    if name not in ATTACKS:
        raise HfcError(f"unknown attack {name!r}", f"choose from {', '.join(ATTACKS)}")
    return ATTACKS[name]
