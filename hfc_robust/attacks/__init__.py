"""Attacks on [0, 1] pixels: adapters over torchattacks, one small class per attack, and a registry.

Every attack returns a new tensor inside the L-inf ball of radius ``eps`` intersected with
[0, 1], never mutates its inputs, runs the model in eval mode and restores every module's mode.
"""

from .apgd import APGD, APGDT
from .autoattack import AutoAttack
from .base import AttackOutput, attack_loss, eval_mode, example_seed
from .fab import FABT
from .fgsm import FGSM
from .pgd import PGD
from .registry import ATTACKS, AttackOptions, AttackSpec, get_attack, list_attacks
from .square import Square

__all__ = ["FGSM", "PGD", "APGD", "APGDT", "FABT", "Square", "AutoAttack", "ATTACKS", "AttackOptions", "AttackOutput",
           "AttackSpec", "attack_loss", "example_seed", "eval_mode", "get_attack", "list_attacks"]
