"""The benchmark: grid configuration, the streaming engine, checkpoints, sanity checks,
``bench_run`` (what ``hfc-robust bench`` does) and ``benchmark`` (any model, any data)."""

from __future__ import annotations

import sys
import types


class _CallablePackage(types.ModuleType):
    """``hfc_robust.bench`` names both this subpackage and the public function ``hfc_robust.bench(...)``.

    Importing the subpackage rebinds the attribute ``hfc_robust.bench`` to it, whichever of the
    two a user meant; so calling the subpackage runs the function, and ``hr.bench(...)`` works
    whatever was imported first.
    """

    def __call__(self, *args, **kwargs):
        from .benchmark import bench

        return bench(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
