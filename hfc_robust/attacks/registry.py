"""The attack registry: one entry per attack, listed by ``hfc-robust list``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import HfcError

if TYPE_CHECKING:  # torch and torchattacks load only when an attack is built, so listing them is fast
    import torch.nn as nn

    from .fgsm import FGSM
    from .pgd import PGD

__all__ = ["AttackSpec", "ATTACKS", "list_attacks", "get_attack"]


@dataclass(frozen=True)
class AttackSpec:
    """A registry entry: ``build(model, eps, **options)`` returns a callable attack."""

    name: str
    description: str
    bpda: bool = False

    def build(self, model: nn.Module, eps: float, steps: int = 10, alpha: float | None = None, restarts: int = 1,
              loss: str = "ce", seed: int = 0, random_start: bool = True) -> FGSM | PGD:
        from .fgsm import FGSM
        from .pgd import PGD

        if self.name == "fgsm":
            return FGSM(model, eps=eps, loss=loss)
        return PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=random_start, restarts=restarts,
                   loss=loss, seed=seed)


ATTACKS: dict[str, AttackSpec] = {
    "fgsm": AttackSpec("fgsm", "FGSM (Goodfellow et al. 2015), one signed-gradient step, via torchattacks"),
    "pgd": AttackSpec("pgd", "L-inf PGD (Madry et al. 2018), random start, first success per example, restarts"),
    "bpda-pgd": AttackSpec("bpda-pgd", "PGD through the input filter with identity gradients (BPDA, Athalye et al. 2018); "
                                       "exact forward pass. Only for input-transform defenses", bpda=True),
}


def list_attacks() -> dict[str, AttackSpec]:
    return dict(ATTACKS)


def get_attack(name: str) -> AttackSpec:
    if name not in ATTACKS:
        raise HfcError(f"unknown attack {name!r}", f"choose from {', '.join(ATTACKS)}")
    return ATTACKS[name]
