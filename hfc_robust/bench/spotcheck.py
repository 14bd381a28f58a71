"""Strong-attack spot check: is a reported robust accuracy an overestimate?

After the grid, for every white-box and adaptive row at the largest eps (the worst case
over the grid's attacks when there are several), a seeded random subsample of the examples
that the reported attack left robust is attacked again with APGD-CE and then APGD-T
(AutoAttack's gradient attacks, 100 steps, APGD-T against the 3 likeliest wrong classes)
and with Square (gradient-free, 500 queries). If they break k of the m sampled examples, the row overstates robust
accuracy by about ``100 * R / n * k / m`` points (R of n examples were reported robust),
with a Wilson interval on k / m. The check warns when the interval's lower bound exceeds
1 point and fails above 5 points. Square breaking significantly more of the sample than
both gradient attacks together (one-sided exact McNemar test, p < 0.01) is the signature
of gradient masking, and fails too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import torch
import torch.nn as nn

from ..attacks.apgd import APGD, APGDT
from ..attacks.base import eval_mode
from ..attacks.registry import norm_kwargs
from ..attacks.square import Square
from ..cells import SCORED_THREATS, WORST_CASE, Cell
from ..data.dataset import ImageDataset
from ..errors import HfcError
from ..results.labels import eps_label
from ..results.stats import wilson_interval
from .checks import SIGNIFICANCE, Check, paired_violation
from .inference import num_outputs, predict_classes
from .result import BenchResult

__all__ = ["spot_check", "WARN_POINTS", "FAIL_POINTS", "SPOT_CHECK_QUERIES"]

WARN_POINTS, FAIL_POINTS = 1.0, 5.0
# Budgets here, cheaper than AutoAttack's (5,000 queries, 9 targets) so that the check costs at
# most about half of a default run; `--attack autoattack` runs the full ensemble.
SPOT_CHECK_QUERIES = 250
SPOT_CHECK_TARGETS = 1


def reported_cells(cells: list[Cell], eps: float) -> list[Cell]:
    """Per (defense, threat model) at ``eps``: the cell a reader would quote, i.e. ``worst-case``
    when the grid has several attacks, else the single attack's cell. Groups that ran
    AutoAttack are skipped: it already includes APGD-CE, APGD-T and Square."""
    groups: dict[tuple[str, str], list[Cell]] = {}
    for cell in cells:
        if cell.threat in SCORED_THREATS and cell.eps == eps:
            groups.setdefault((cell.defense, cell.threat), []).append(cell)
    chosen = []
    for group in groups.values():
        if any(c.attack.startswith("autoattack") for c in group):
            continue
        pick = [c for c in group if c.attack == WORST_CASE] or group
        if len(pick) == 1:
            chosen.append(pick[0])
    return chosen


def _sample(cell: str, seed: int, indices: np.ndarray, size: int) -> np.ndarray:
    """A seeded subsample of ``indices`` that depends only on (seed, cell)."""
    digest = hashlib.sha256(f"spot-check:{seed}:{cell}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    if len(indices) <= size:
        return np.sort(indices)
    return np.sort(rng.choice(indices, size=size, replace=False))


def _images(dataset: ImageDataset, wanted: np.ndarray, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The sampled examples, read batch by batch (the dataset may stream from disk)."""
    keep = set(int(i) for i in wanted)
    parts = []
    for indices, images, labels in dataset.batches(batch_size):
        mask = torch.tensor([int(i) in keep for i in indices], dtype=torch.bool)
        if bool(mask.any()):
            parts.append((indices[mask], images[mask], labels[mask]))
    return (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]), torch.cat([p[2] for p in parts]))


def _broken(attack, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, ids: torch.Tensor,
            batch_size: int) -> np.ndarray:
    broken = []
    for lo in range(0, len(labels), batch_size):
        x, y = images[lo:lo + batch_size], labels[lo:lo + batch_size]
        out = attack.run(x, y, ids[lo:lo + batch_size])
        broken.append((predict_classes(model, out.adversarial) != y).cpu().numpy())
    return np.concatenate(broken) if broken else np.zeros(0, dtype=bool)


def spot_check(result: BenchResult, modules: dict[str, nn.Module], dataset: ImageDataset, size: int,
               device: torch.device | str = "cpu", progress: Callable[[str], None] | None = None) -> Check:
    """Re-attack up to ``size`` robust examples of each white-box/adaptive row at the largest eps.

    ``modules`` maps each defense key (``none``, ``lowpass-r8``, ...) to the model its rows are scored on.
    """
    config = result.config
    name = "strong-attack-spot-check"
    if size <= 0:
        return Check(name, "skipped", "disabled (--no-spot-check)")
    eps = max(config.eps)
    if eps == 0:
        return Check(name, "skipped", "not applicable (eps = 0: there is no perturbation to look for)")
    cells = reported_cells(result.cells, eps)
    if not cells:
        return Check(name, "skipped", "not applicable (no white-box or adaptive row other than AutoAttack's)")
    try:  # the spot check's attacks in the run's norm (an L-inf-only build of them cannot check an L2 run)
        for attack in (APGD, APGDT, Square):
            norm_kwargs(attack, config.norm)
    except HfcError:
        return Check(name, "skipped", f"not available: this hfc-robust has no {config.norm} version of APGD-CE, "
                                      "APGD-T and Square")
    records, statuses, checked = [], [], {}
    for cell in cells:
        index, robust = result.outcomes(cell)
        robust_count, n = int(robust.sum()), len(robust)
        sample = _sample(cell.key, config.seed, index[robust], size)
        record = {"cell": cell.key, "robust": robust_count, "n": n, "sampled": len(sample)}
        checked[cell.key] = cell
        if len(sample) == 0:
            records.append({**record, "broken_by_apgd": 0, "broken_by_square": 0, "overestimate_points": 0.0,
                            "ci_points": [0.0, 0.0]})
            statuses.append("pass")
            continue
        if progress:
            progress(f"spot check: APGD-CE, APGD-T and Square on {len(sample)} robust examples of {cell.defense} "
                     f"{cell.threat} {cell.attack}")
        ids, images, labels = _images(dataset, sample, config.batch_size)
        images, labels = images.to(device), labels.to(device)
        model = modules[cell.defense]
        with eval_mode(model):  # a caller's train-mode BatchNorm must neither run on batch statistics nor learn
            record.update(_attack_sample(model, images, labels, ids, eps, config, robust_count, n))
        records.append(record)
        status = "fail" if record["ci_points"][0] > FAIL_POINTS or record["gradient_masking"] else \
            "warn" if record["ci_points"][0] > WARN_POINTS else "pass"
        statuses.append(status)
    worst = "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
    top = max(records, key=lambda r: r["overestimate_points"])
    top_cell = checked[top["cell"]]
    detail = (f"APGD-CE + APGD-T broke {top['broken_by_apgd']} of {top['sampled']} sampled robust examples of "
              f"{top_cell.defense} {top_cell.threat} {top_cell.attack}: the row overstates "
              f"robust accuracy by about {top['overestimate_points']:.1f} points "
              f"(95% CI {top['ci_points'][0]:.1f}-{top['ci_points'][1]:.1f}); {len(records)} rows checked at eps "
              f"{eps_label(eps, config.norm)}")
    masked = [r for r in records if r.get("gradient_masking")]
    if masked:
        detail = (f"Square broke {masked[0]['square_only']} sampled examples that APGD could not "
                  f"({checked[masked[0]['cell']].defense}): gradients are masked; " + detail)
    if worst != "pass":
        detail += "; for a number to cite, rerun with --attack autoattack, or at least --steps 100 --restarts 5"
    return Check(name, worst, detail, {"rows": records, "size": size, "eps": eps})


def _attack_sample(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, ids: torch.Tensor, eps: float, config,
                   robust_count: int, n: int) -> dict:
    """APGD-CE, then APGD-T on what it left, and Square, on the sampled robust examples of one row."""
    num_classes = num_outputs(model, images[:1])
    # APGD-T runs only where APGD-CE failed: their union is all that is reported.
    gradient = _broken(APGD(model, eps, seed=config.seed, **norm_kwargs(APGD, config.norm)), model, images, labels, ids,
                       config.batch_size)
    standing = np.flatnonzero(~gradient)
    if len(standing):
        targeted = APGDT(model, eps, seed=config.seed, num_classes=min(num_classes, SPOT_CHECK_TARGETS + 1),
                         **norm_kwargs(APGDT, config.norm))
        keep = torch.as_tensor(standing)
        gradient[standing] = _broken(targeted, model, images[keep.to(images.device)], labels[keep.to(labels.device)],
                                     ids[keep], config.batch_size)
    square = _broken(Square(model, eps, queries=min(config.queries, SPOT_CHECK_QUERIES), seed=config.seed,
                            **norm_kwargs(Square, config.norm)), model, images, labels, ids, config.batch_size)
    k, m = int(gradient.sum()), len(labels)
    scale = 100.0 * robust_count / n
    low, high = wilson_interval(k, m)
    # Robustness to the gradient attacks should be the lower one; Square-only breaks violate that.
    square_only, apgd_only, p = paired_violation(~gradient, ~square)
    return dict(broken_by_apgd=k, broken_by_square=int(square.sum()), square_only=square_only,
                overestimate_points=round(scale * k / m, 3), ci_points=[round(scale * low, 3), round(scale * high, 3)],
                gradient_masking=bool(square_only > apgd_only and p < SIGNIFICANCE))
