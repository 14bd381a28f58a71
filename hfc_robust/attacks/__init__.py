"""Attacks on [0, 1] pixels, one small class per attack, and a registry: FGSM (torchattacks) and PGD;
APGD-CE, APGD-T, FAB-T and Square as ports of the reference AutoAttack (Croce & Hein), the
``autoattack`` cascade and ``autoattack-fast`` (MALT targets).

Every attack returns a new tensor inside the ball of radius ``eps`` in its ``norm`` (``linf``,
or ``l2`` over each example's C x H x W values) intersected with [0, 1], never mutates its
inputs, runs the model in eval mode and restores every module's mode.

Names are imported lazily (PEP 562): the registry's names and descriptions load without
torch or torchattacks, so ``hfc-robust list`` starts fast, and building an attack imports only
its own module.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "FGSM": "fgsm",
    "PGD": "pgd",
    "APGD": "apgd",
    "APGDT": "apgd",
    "FABT": "fab",
    "Square": "square",
    "AutoAttack": "autoattack",
    "AutoAttackFast": "malt",
    "ATTACKS": "registry",
    "AttackOptions": "registry",
    "AttackEntry": "registry",
    "get_attack": "registry",
    "list_attacks": "registry",
    "AttackOutput": "base",
    "attack_loss": "base",
    "example_seed": "base",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = list(_EXPORTS)
