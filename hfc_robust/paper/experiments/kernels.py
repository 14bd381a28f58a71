"""Fig. 7 (Sec. 6.2): the first-layer kernels of every natural / adversarially trained pair, gathered
in ``results/paper/kernels/first_layers.npz`` (one array per model: out x in x 3 x 3) with a
``record.json`` naming each array's source (registry weights with their SHA-256, or the Sec. 5 run
record). The verdict (:mod:`hfc_robust.paper.verdicts.kernels`) reads only these files."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...results.io import atomic_write_bytes, atomic_write_text
from ..rules import common
from ..rules import kernels as rule
from .records import versions
from .trainer import first_conv_kernels

__all__ = ["collect_first_layers"]


def collect_first_layers(
    out: Path, heuristics: Path, extra: dict[str, tuple[str, str]] | None = None, log: Callable[[str], None] = print
) -> Path:
    """``extra``: label -> (registry name, weights path) for models outside the pairs (the ResNets)."""
    from ...models.zoo import load_model  # provenance (path, SHA-256) as well as the module

    started = time.time()
    arrays: dict[str, np.ndarray] = {}
    sources: dict[str, dict] = {}
    names = [name for pair in rule.PAIRS for name in pair]
    for label, (name, weights) in {**{n: (n, None) for n in names}, **(extra or {})}.items():
        loaded = load_model(name, weights)
        arrays[label] = first_conv_kernels(loaded.module)
        sources[label] = {
            "model": name,
            "weights": Path(loaded.weights).name if loaded.weights else None,
            "sha256": loaded.sha256,
        }
    for seed in common.SEEDS:
        for setting in ("vanilla", "adversarial"):
            path = heuristics / f"{setting}-seed{seed}.npz"
            if path.is_file():
                with np.load(path) as archive:
                    arrays[f"sec5-{setting}-seed{seed}"] = archive["conv1"]
                sources[f"sec5-{setting}-seed{seed}"] = {"run": str(path.relative_to(out.parent))}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "first_layers.npz", buffer.getvalue())
    from ... import ENGINE_VERSION

    atomic_write_text(
        out / "record.json",
        json.dumps(
            {
                "sources": sources,
                "engine_version": ENGINE_VERSION,
                "wall_time_s": round(time.time() - started, 1),
                "versions": versions(),
            },
            indent=1,
            sort_keys=True,
        )
        + "\n",
    )
    log(f"[kernels] wrote {out / 'first_layers.npz'} ({len(arrays)} models)")
    return out / "first_layers.npz"
