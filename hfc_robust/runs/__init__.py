"""A run from start to finish, for either kind of spec: :mod:`.inputs` (load and check the model and
the data), :mod:`.folder` (the run folder, its checkpoint, shards and executors), :mod:`.run`
(``run_spec``: evaluate, check, record, write), :mod:`.writers` (each kind's files), :mod:`.provenance`
and :mod:`.paths` (what run.json records), :mod:`.benchmark` (the Python API), :mod:`.merge`
(joining shards) and :mod:`.rerun` (repeating a run)."""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "run_spec": "run",
    "RunOptions": "run",
    "RunResult": "run",
    "Source": "inputs",
    "benchmark": "benchmark",
    "corruption_benchmark": "benchmark",
    "merge_shards": "merge",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = list(_EXPORTS)
