"""The engine: a run spec's cells evaluated over a dataset, batch by batch, into a checkpointed
store of per-example outcomes, and the tables built from them.

* :mod:`.evaluate` (``evaluate``, ``assemble``, ``EngineModel``), the one way in;
* :mod:`.loop` (the checkpointed batch loop), :mod:`.checkpoint` (the outcome store);
* :mod:`.plan` (the cells, in table order), :mod:`.grid` (the cells with their scored models);
* per kind: :mod:`.attack_batch` and :mod:`.attack_result`; :mod:`.corruption_batch` and
  :mod:`.corruption_result`; :mod:`.result` (what both results share);
* :mod:`.inference` (the model's one probe, predictions), :mod:`.spectra` (perturbation spectra),
  :mod:`.mineps` (minimal eps per example).
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "evaluate": "evaluate",
    "assemble": "evaluate",
    "EngineModel": "evaluate",
    "engine_model": "evaluate",
    "run_key": "evaluate",
    "EngineResult": "result",
    "AttackResult": "attack_result",
    "CorruptionResult": "corruption_result",
    "OutcomeStore": "checkpoint",
    "run_batches": "loop",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = list(_EXPORTS)
