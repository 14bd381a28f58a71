"""The benchmark harness: runs grid cells and returns pandas frames.

A *cell* is one (dataset, model, defense, threat model, attack, eps) combination with a
stable key (:func:`cell_key`). The harness streams the data batch by batch and, inside a
batch, shares work between cells without changing any outcome:

* clean predictions are computed once per defended model (``torch.inference_mode``);
* adversarial examples crafted once against the bare model serve the white-box row and
  every defense's *oblivious* row;
* an example misclassified clean, or already broken at a smaller eps in the same
  (defense, threat model, attack) ladder, is not attacked again: its outcome and its
  adversarial example (which lies inside every larger ball) are kept;
* PGD stops early per example at its first success.

So "robust at eps" means: classified correctly clean and not broken by the attack at
any eps' <= eps of the run's grid, a valid upper bound on true robust accuracy.
``tests/test_harness.py`` checks the optimised harness against a naive loop.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from ..attacks.base import attack_loss, eval_mode
from ..attacks.registry import get_attack
from ..data.dataset import ImageDataset
from ..data.datasets import load_dataset
from ..defenses.spec import DefenseSpec
from ..errors import HfcError
from ..models.zoo import LoadedModel, check_input_shape, load_model
from ..results.stats import wilson_interval
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TABLE_COLUMNS, BenchConfig, plan_cells, runs_attack, threats

__all__ = ["BenchResult", "run_bench", "bench"]


@dataclass
class BenchResult:
    """What a run produces: the table, per-example records, gradient checks and provenance."""

    table: pd.DataFrame
    examples: pd.DataFrame
    gradient_checks: dict[str, dict[str, int]]
    config: BenchConfig
    provenance: dict = field(default_factory=dict)
    extra_defenses: tuple[DefenseSpec, ...] = ()


class _Ladder:
    """Per-example state of one (defense, threat, attack) ladder across increasing eps."""

    def __init__(self, clean_pred: torch.Tensor, labels: torch.Tensor) -> None:
        self.adv_pred = clean_pred.clone()
        self.broken = clean_pred != labels

    def update(self, rows: torch.Tensor, pred: torch.Tensor, labels: torch.Tensor) -> None:
        self.adv_pred[rows] = pred
        self.broken[rows] = pred != labels[rows]


def _predict(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    if len(images) == 0:
        return torch.empty(0, dtype=torch.long)
    with torch.inference_mode():
        return model(images).argmax(1)


def _scored_predictions(attack, model: nn.Module, adv: torch.Tensor) -> torch.Tensor:
    """The attack's own final predictions on ``adv`` (made by ``model`` in eval mode) when it
    records them, else one forward pass."""
    predictions = getattr(attack, "last_predictions", None)
    if predictions is not None and len(predictions) == len(adv):
        return predictions
    return _predict(model, adv)


def _zero_gradient_count(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss: str = "ce") -> int:
    """Examples whose input gradient of the attack loss is exactly zero or not finite.

    Cross-entropy saturates to an exactly-zero gradient in float32 when logits are huge,
    a real form of gradient masking that this check exposes."""
    if len(images) == 0:
        return 0
    x = images.clone().requires_grad_(True)
    with torch.enable_grad():
        grad, = torch.autograd.grad(attack_loss(model(x), labels, loss), x)
    flat = grad.flatten(1)
    dead = (flat.abs().amax(1) == 0) | ~torch.isfinite(flat).all(1)
    return int(dead.sum())


def run_bench(config: BenchConfig | None = None, *, model: LoadedModel | nn.Module | None = None,
              dataset: ImageDataset | None = None, extra_defenses: Sequence[DefenseSpec] = (),
              progress: Callable[[int, int], None] | None = None, checkpoint: str | None = None,
              **overrides) -> BenchResult:
    """Run a bench grid.

    Args:
        config: a :class:`BenchConfig`; keyword ``overrides`` replace its fields.
        model: an already loaded model (``LoadedModel`` or a bare module taking [0, 1] pixels).
        dataset: an already loaded :class:`ImageDataset`.
        extra_defenses: more :class:`DefenseSpec` entries (e.g. custom input transforms).
        progress: called as ``progress(done, total)`` after every batch.
        checkpoint: a file where finished batches are saved after every batch; a run with
            the same configuration resumes from it, so interrupted work is never lost.
    """
    config = BenchConfig(**{**(config.to_dict() if config else {}), **overrides})
    start_time = time.time()
    if dataset is None:
        dataset = load_dataset(config.dataset, config.n, config.data_dir)
    else:
        dataset = dataset.take(config.n)
    if model is None:
        model = load_model(config.model, config.weights, num_classes=dataset.num_classes, progress=False)
    loaded = model if isinstance(model, LoadedModel) else None
    bare = loaded.module if loaded else model
    assert isinstance(bare, nn.Module)
    if loaded is not None:
        check_input_shape(loaded.name, loaded.spec.input_shape, dataset.shape, f"dataset {dataset.name}")

    defenses = config.defenses() + list(extra_defenses)
    cells = plan_cells(config, dataset.name, defenses)

    with eval_mode(bare):
        modules = {d.key: d.apply(bare) for d in defenses}
        bpda_modules = {d.key: d.apply(bare, bpda=True) for d in defenses if not d.differentiable_everywhere}
        for module in list(modules.values()) + list(bpda_modules.values()):
            module.eval()
        # A checkpoint is only reused for the same grid, the same weights and the same images.
        model_id = loaded.sha256 if loaded is not None else hashlib.sha256(
            b"".join(t.detach().cpu().numpy().tobytes() for t in bare.state_dict().values())).hexdigest()
        resume_key = f"{config.fingerprint()}:{model_id}:{dataset.fingerprint()}:{[d.key for d in defenses]}"
        records, grad_counts, start_row = load_checkpoint(checkpoint, resume_key)
        attack_options = dict(steps=config.steps, alpha=config.alpha, restarts=config.restarts, loss=config.loss,
                              seed=config.seed)
        total, done_rows = len(dataset), start_row
        outputs = _num_outputs(bare, dataset.to_float(dataset.images[:1]))
        if int(dataset.labels.max()) >= outputs:
            raise HfcError(f"dataset {dataset.name} has label {int(dataset.labels.max())} but the model has {outputs} "
                           "outputs", "choose a model trained for this dataset")
        if progress:
            progress(done_rows, total)
        for indices, images, labels in dataset.batches(config.batch_size, start=start_row):
            batch = _run_batch(config, defenses, modules, bpda_modules, indices, images, labels, attack_options,
                               grad_counts)
            for key, (adv_pred, robust, clean_pred) in batch.items():
                records.setdefault(key, []).append((indices, labels, clean_pred, adv_pred, robust))
            done_rows += len(labels)
            if checkpoint:
                save_checkpoint({"fingerprint": resume_key, "rows": done_rows, "records": records,
                                    "grad_counts": grad_counts}, checkpoint)
            if progress:
                progress(done_rows, total)

    table, examples = _tables(config, dataset, cells, records)
    if checkpoint and os.path.exists(checkpoint):
        os.remove(checkpoint)
    provenance = {"wall_time_s": round(time.time() - start_time, 3)}
    if loaded is not None:
        provenance.update(model_sha256=loaded.sha256, weights=loaded.weights)
    return BenchResult(table, examples, grad_counts, config, provenance, tuple(extra_defenses))


def _num_outputs(model: nn.Module, sample: torch.Tensor) -> int:
    with torch.inference_mode():
        return int(model(sample).shape[1])


def _run_batch(config: BenchConfig, defenses: list[DefenseSpec], modules: dict[str, nn.Module],
               bpda_modules: dict[str, nn.Module], indices: torch.Tensor, images: torch.Tensor, labels: torch.Tensor,
               attack_options: dict, grad_counts: dict) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """All cells for one batch: ``{(defense key, threat, attack, eps): (adv_pred, robust, clean_pred)}``."""
    out: dict = {}
    clean_pred = {d.key: _predict(modules[d.key], images) for d in defenses}

    for d in defenses:
        correct = clean_pred[d.key] == labels
        out[(d.key, "clean", "none", 0.0)] = (clean_pred[d.key], correct, clean_pred[d.key])
        counts = grad_counts.setdefault(d.key, {"checked": 0, "zero_gradient": 0})
        counts["checked"] += int(correct.sum())
        counts["zero_gradient"] += _zero_gradient_count(modules[d.key], images[correct], labels[correct], config.loss)

    bare = modules["none"]
    worst: dict[tuple, torch.Tensor] = {}
    for attack_name in config.attacks:
        spec = get_attack(attack_name)
        ladders = {(d.key, t): _Ladder(clean_pred[d.key], labels) for d in defenses for t in threats(d)
                   if runs_attack(d, t, attack_name)}
        bare_adv = images.clone()
        for eps in config.eps:
            changed = torch.empty(0, dtype=torch.long)
            if ("none", "whitebox") in ladders:
                ladder = ladders[("none", "whitebox")]
                rows = (~ladder.broken).nonzero().flatten()
                if len(rows):
                    attack = spec.build(bare, eps, **attack_options)
                    bare_adv[rows] = attack(images[rows], labels[rows], indices[rows])
                    ladder.update(rows, _scored_predictions(attack, bare, bare_adv[rows]), labels)
                changed = rows
            for d in defenses:
                if d.kind == "none":
                    continue
                if (d.key, "oblivious") in ladders:
                    ladder = ladders[(d.key, "oblivious")]
                    # only examples whose bare-model adversarial changed at this eps can change outcome
                    mask = torch.zeros(len(labels), dtype=torch.bool)
                    mask[changed] = True
                    rows = (mask & ~ladder.broken).nonzero().flatten()
                    if len(rows):
                        ladder.update(rows, _predict(modules[d.key], bare_adv[rows]), labels)
                if (d.key, "adaptive") in ladders:
                    ladder = ladders[(d.key, "adaptive")]
                    rows = (~ladder.broken).nonzero().flatten()
                    if len(rows):
                        target = bpda_modules[d.key] if spec.bpda else modules[d.key]
                        attack = spec.build(target, eps, **attack_options)
                        adv = attack(images[rows], labels[rows], indices[rows])
                        # BPDA's forward pass is x + (t(x) - x), not bit-identical to t(x): re-score it.
                        scored = _predict(modules[d.key], adv) if spec.bpda else _scored_predictions(attack, target, adv)
                        ladder.update(rows, scored, labels)
            for (dkey, threat), ladder in ladders.items():
                robust = ~ladder.broken
                out[(dkey, threat, attack_name, eps)] = (ladder.adv_pred.clone(), robust.clone(), clean_pred[dkey])
                key = (dkey, threat, eps)
                worst[key] = worst[key] & robust if key in worst else robust.clone()

    for d in defenses:
        for threat in threats(d):
            attacks = [a for a in config.attacks if runs_attack(d, threat, a)]
            if len(attacks) > 1:
                for eps in config.eps:
                    robust = worst[(d.key, threat, eps)]
                    adv_pred = torch.full_like(labels, -1)  # no single adversarial prediction
                    out[(d.key, threat, "worst-case", eps)] = (adv_pred, robust, clean_pred[d.key])
    return out


def _tables(config: BenchConfig, dataset: ImageDataset, cells: list[dict], records: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, example_frames = [], []
    for cell in cells:
        d: DefenseSpec = cell["defense"]
        parts = records[(d.key, cell["threat"], cell["attack"], cell["eps"])]
        index = torch.cat([p[0] for p in parts])
        label = torch.cat([p[1] for p in parts])
        clean = torch.cat([p[2] for p in parts])
        adv = torch.cat([p[3] for p in parts])
        robust = torch.cat([p[4] for p in parts])
        n, correct = len(robust), int(robust.sum())
        low, high = wilson_interval(correct, n)
        rows.append(dict(dataset=dataset.name, model=config.model, defense=d.kind if d.kind != "custom" else d.key,
                         radius=d.radius if d.radius is not None else np.nan,
                         rho=d.rho if d.rho is not None else np.nan, attack=cell["attack"], eps=cell["eps"],
                         eps_255=round(cell["eps"] * 255, 4), threat_model=cell["threat"], n=n, correct=correct,
                         accuracy=correct / n, ci_low=low, ci_high=high, cell=cell["cell"]))
        example_frames.append(pd.DataFrame({"cell": cell["cell"], "index": index.numpy(), "label": label.numpy(),
                                            "clean_pred": clean.numpy(), "adv_pred": adv.numpy(),
                                            "robust": robust.numpy().astype(np.int8)}))
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    examples = pd.concat(example_frames, ignore_index=True) if example_frames else pd.DataFrame()
    return table, examples


def bench(dataset: str = "fmnist", model: str = "fmnist-cnn", **options) -> pd.DataFrame:
    """Run a grid and return the results table (see :class:`BenchConfig` for options)."""
    return run_bench(BenchConfig(dataset=dataset, model=model, **options)).table


