"""The sanity checks of an attack run: :mod:`.paired` (the comparisons on paired per-example
outcomes, the gradient check, the clean-accuracy warning, and the :class:`~.paired.Check` record),
:mod:`.spotcheck` with its decision rule :mod:`.spotrule` (the strong-attack spot check), and
:mod:`.optional` (``--check-convergence``, ``--check-unbounded``)."""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "Check": "paired",
    "run_checks": "paired",
    "checks_failed": "paired",
    "spot_check": "spotcheck",
    "convergence_check": "optional",
    "unbounded_check": "optional",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = list(_EXPORTS)
