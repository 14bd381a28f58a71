"""The attack registry: one entry per attack, listed by ``hfc-robust list``."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..budgets import COMPONENTS, DEFAULT_QUERIES, FAST_COMPONENTS, FAST_TARGETS
from ..errors import HfcError
from ..threat import ThreatModel

if TYPE_CHECKING:  # torch and torchattacks load only when an attack is built, so listing them is fast
    import torch.nn as nn

__all__ = [
    "AttackOptions",
    "AttackEntry",
    "ATTACKS",
    "list_attacks",
    "get_attack",
    "check_budget",
    "check_loss",
    "LOSSES",
]

LOSSES = ("ce", "margin")  #: the attack losses: cross-entropy, or the Carlini-Wagner margin on logits


def check_budget(steps: int, restarts: int = 1, random_start: bool = True, attack: str = "PGD") -> None:
    """The one rule for an iterative attack's budget: ``steps`` and ``restarts`` at least 1, and restarts
    only with a random start (a second restart from the same point would repeat the first)."""
    for value in (steps, restarts):
        if isinstance(value, bool) or not isinstance(value, int):
            raise HfcError(
                f"{attack}'s steps and restarts are integers, got {steps!r} and {restarts!r}",
                "pass e.g. --steps 10 --restarts 1",
            )
    if steps < 1 or restarts < 1:
        raise HfcError(
            f"{attack} needs steps >= 1 and restarts >= 1, got {steps} and {restarts}",
            "pass e.g. --steps 10 --restarts 1",
        )
    if restarts > 1 and not random_start:
        raise HfcError(f"{attack} restarts need a random start", "drop --no-random-start or use --restarts 1")


def check_loss(loss: str) -> str:
    """``ce`` or ``margin``, else one line naming the choices."""
    if loss not in LOSSES:
        raise HfcError(f"unknown loss {loss!r}", f"use one of {', '.join(LOSSES)}")
    return loss


@dataclass(frozen=True)
class AttackOptions:
    """Attack settings from the grid. ``steps``, ``step_size``, ``restarts``, ``loss`` and
    ``random_start`` are PGD's (and FGSM's loss); APGD, FAB-T and AutoAttack use AutoAttack's
    standard budget; ``queries`` is the stand-alone ``square`` row's (never AutoAttack's, whose
    Square always gets the standard 5,000). ``step_size`` on the [0, 1] pixel scale (None: the
    norm's default)."""

    steps: int = 10
    step_size: float | None = None
    restarts: int = 1
    loss: str = "ce"
    seed: int = 0
    random_start: bool = True
    queries: int = DEFAULT_QUERIES
    num_classes: int = 10


@dataclass(frozen=True)
class AttackEntry:
    """A registry entry: ``build(model, threat, options)`` returns an attack with ``run(images, labels, ids)``.

    ``module`` and ``class_name``: where the attack's class lives in ``hfc_robust.attacks``; only
    that module is imported when the attack is built (a PGD grid never loads torchattacks).
    ``bpda``: runs through the defense's BPDA twin (input transforms only). ``gradient_free``:
    needs no gradient (a check for gradient masking). ``stages``: the cascade's components.
    ``band``: has a band-limited form (``--band``); ``band_stages``: the cascade's components in a
    band (its gradient stages; FAB-T's closed-form projection and Square's squares have no band form).
    """

    name: str
    description: str
    module: str
    class_name: str
    bpda: bool = False
    gradient_free: bool = False
    stages: tuple[str, ...] = ()
    band: bool = True
    band_stages: tuple[str, ...] = ()

    def stages_in(self, threat: ThreatModel) -> tuple[str, ...]:
        """The cascade's components in ``threat`` (its band stages in a band-limited threat model)."""
        return self.band_stages if threat.band is not None and self.band_stages else self.stages

    def attack_class(self) -> type:
        return getattr(importlib.import_module(f"{__package__}.{self.module}"), self.class_name)

    def build(self, model: nn.Module, threat: ThreatModel, options: AttackOptions = AttackOptions()):
        o = options
        cls = self.attack_class()
        if self.name == "fgsm":
            return cls(model, threat, loss=o.loss)
        if self.name in ("pgd", "bpda-pgd"):
            return cls(
                model,
                threat,
                alpha=o.step_size,
                steps=o.steps,
                random_start=o.random_start,
                restarts=o.restarts,
                loss=o.loss,
                seed=o.seed,
            )
        if self.name == "apgd-ce":
            return cls(model, threat, seed=o.seed)
        if self.name == "square":
            return cls(model, threat, queries=o.queries, seed=o.seed)
        # APGD-T, FAB-T and the cascades: min(9, C - 1) targets from num_classes; autoattack always
        # the standard budgets (--queries is the square row's)
        return cls(model, threat, seed=o.seed, num_classes=o.num_classes)


ATTACKS: dict[str, AttackEntry] = {
    "fgsm": AttackEntry(
        "fgsm",
        "FGSM (Goodfellow et al. 2015), one signed-gradient step of eps (via torchattacks); "
        "with --norm l2, FGM: one step of eps along the L2-normalised gradient",
        "fgsm",
        "FGSM",
    ),
    "pgd": AttackEntry(
        "pgd",
        "PGD (Madry et al. 2018), L-inf sign steps or, with --norm l2, L2-normalised steps and L2 "
        "projection; random start, first success per example, restarts",
        "pgd",
        "PGD",
    ),
    "bpda-pgd": AttackEntry(
        "bpda-pgd",
        "PGD (L-inf or L2, --norm) through the input filter with identity gradients "
        "(BPDA, Athalye et al. 2018); exact forward pass. Only for input-transform "
        "defenses",
        "pgd",
        "PGD",
        bpda=True,
    ),
    "apgd-ce": AttackEntry(
        "apgd-ce",
        "APGD with cross-entropy (Croce & Hein 2020), 100 steps; the reference's algorithm, checked against it",
        "apgd",
        "APGD",
    ),
    "apgd-t": AttackEntry(
        "apgd-t",
        "APGD-T, targeted DLR loss against the min(9, C-1) likeliest wrong classes, 100 steps",
        "apgd",
        "APGDT",
    ),
    "fab-t": AttackEntry(
        "fab-t",
        "FAB-T, targeted minimal-perturbation attack (Croce & Hein 2020), min(9, C-1) targets, 100 steps",
        "fab",
        "FABT",
        band=False,
    ),
    "square": AttackEntry(
        "square",
        "Square (Andriushchenko et al. 2020), gradient-free, --queries (default 5,000)",
        "square",
        "Square",
        gradient_free=True,
        band=False,
    ),
    "autoattack": AttackEntry(
        "autoattack",
        "AutoAttack standard: APGD-CE, APGD-T, FAB-T, Square as a cascade with the "
        "standard budgets; per-example worst case (the number to cite)",
        "autoattack",
        "AutoAttack",
        stages=COMPONENTS,
        band_stages=COMPONENTS[:2],
    ),
    "autoattack-fast": AttackEntry(
        "autoattack-fast",
        "NOT the standard: APGD-CE, then APGD-T against the "
        f"{FAST_TARGETS} wrong classes MALT ranks nearest (Melamed et al. "
        "2024); a fraction of AutoAttack's cost",
        "malt",
        "AutoAttackFast",
        stages=FAST_COMPONENTS,
    ),
}


def list_attacks() -> dict[str, AttackEntry]:
    return dict(ATTACKS)


def get_attack(name: str) -> AttackEntry:
    if name not in ATTACKS:
        raise HfcError(f"unknown attack {name!r}", f"choose from {', '.join(ATTACKS)}")
    return ATTACKS[name]
