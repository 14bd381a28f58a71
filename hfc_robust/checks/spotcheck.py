"""Strong-attack spot check: is a reported robust accuracy an overestimate?

After the grid, for every white-box and adaptive row at the largest eps (the worst case over
the grid's attacks when there are several; groups that ran AutoAttack are skipped, it already
holds these attacks), a seeded random sample of up to ``--spot-check`` examples that the row
counts as robust is attacked again with the budgets of :mod:`hfc_robust.budgets`:
APGD-CE (100 steps), then APGD-T (100 steps, the likeliest wrong class) on what it left,
then Square (250 queries) on what they left (gradient-free: it sees through masked gradients).
An example counts as broken when any of them breaks it. In a band (``--band``) the rows are grouped
per band too, and Square, which has no band-limited form, is left out. The decision (estimate, one-sided
exact test, warn/fail, gradient masking, power) is :mod:`hfc_robust.checks.spotrule`, a pure
function of the per-example outcomes.

The attacks are the adapters of :mod:`hfc_robust.attacks` (the same classes the grid runs), so
the check gets faster whenever they do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from ..budgets import SPOT_CHECK_QUERIES, SPOT_CHECK_STEPS, SPOT_CHECK_TARGETS, spot_check_budget_text
from ..cells import SCORED_SCENARIOS, WORST_CASE, Cell
from ..data.dataset import Dataset
from ..engine.attack_result import AttackResult
from ..engine.inference import num_outputs, predict_classes
from ..ops.modes import eval_mode
from ..threat import ThreatModel
from .paired import Check
from .spotrule import ALPHA, DETECT_POINTS, POWER, TOLERANCE_POINTS, row_verdict, sample_size, worst_status

__all__ = ["spot_check", "reported_cells", "sample_indices", "summarize", "SpotBudget", "CHECK_NAME"]

CHECK_NAME = "strong-attack-spot-check"


@dataclass(frozen=True)
class SpotBudget:
    """The strong attacks' budgets (defaults: :mod:`hfc_robust.budgets`); tests pass smaller ones."""

    steps: int = SPOT_CHECK_STEPS
    targets: int = SPOT_CHECK_TARGETS
    queries: int = SPOT_CHECK_QUERIES


def reported_cells(cells: Sequence[Cell]) -> list[Cell]:
    """The rows a reader would quote, at the largest eps of the white-box and adaptive cells: per
    (defense, threat model, band), ``worst-case`` when the grid has several attacks, else the single
    attack's cell. Groups that ran AutoAttack (any ``autoattack...`` row) are skipped."""
    scored = [cell for cell in cells if cell.scenario in SCORED_SCENARIOS and cell.eps > 0]
    if not scored:
        return []
    eps = max(cell.eps for cell in scored)
    groups: dict[tuple, list[Cell]] = {}
    for cell in scored:
        if cell.eps == eps:
            groups.setdefault((cell.defense, cell.scenario, cell.band), []).append(cell)
    chosen = []
    for group in groups.values():
        if any(c.attack.startswith("autoattack") for c in group):
            continue
        pick = [c for c in group if c.attack == WORST_CASE] or group
        if len(pick) == 1:
            chosen.append(pick[0])
    return chosen


def sample_indices(cell: str, seed: int, indices: np.ndarray, size: int) -> np.ndarray:
    """A seeded subsample of ``indices`` (sorted) that depends only on (seed, cell key)."""
    digest = hashlib.sha256(f"spot-check:{seed}:{cell}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    if len(indices) <= size:
        return np.sort(indices)
    return np.sort(rng.choice(indices, size=size, replace=False))


def _row_name(cell: Cell) -> str:
    return f"{cell.defense} {cell.scenario} {cell.attack}" + (f" in {cell.band.label}" if cell.band is not None else "")


def summarize(rows: list[tuple[Cell, dict]], size: int) -> Check:
    """The check from each checked row's :func:`~hfc_robust.checks.spotrule.row_verdict` record:
    the worst status, a one-line detail led by the most overstated row, and every record in ``data``."""
    records = [{"cell": cell.key, **record} for cell, record in rows]
    status = worst_status([r["status"] for r in records])
    eps = rows[0][0].eps
    ordered = sorted(rows, key=lambda item: -item[1]["overestimate_points"])
    parts = []
    for cell, r in ordered:
        text = f"{_row_name(cell)}: {r['broken']} of {r['sampled']} sampled robust examples broken"
        if r["broken"]:
            text += (
                f", overstated by about {r['overestimate_points']:.1f} points (at least "
                f"{r['lower_bound_points']:.1f} with {100 * (1 - ALPHA):g}% confidence)"
            )
        parts.append(f"{text}: {'overstated, ' if r.get('overstated') else ''}{r['status']}")
    detail = (
        f"{'; '.join(parts)}. {len(rows)} row(s) at eps {rows[0][0].norm.eps_label(eps)}, {spot_check_budget_text()}; "
        f"warns when a row overstates by more than {TOLERANCE_POINTS:g} point (one-sided exact test, "
        f"alpha {ALPHA:g}): these rows are upper bounds, not citable numbers; fails only on gradient masking"
    )
    masked = [(cell, r) for cell, r in rows if r["gradient_masking"]]
    if masked:
        cell, r = masked[0]
        detail = (
            f"Square broke {r['square_only']} sampled examples of {_row_name(cell)} that APGD could not "
            f"(APGD broke {r['broken_by_apgd']}, p = {r['masking_p']:.2g}): gradients are masked; " + detail
        )
    weak = [(cell, r) for cell, r in rows if r["power"] is not None and r["power"] < POWER]
    if weak:
        cell, r = min(weak, key=lambda item: item[1]["power"])
        needed = sample_size(r["robust"], r["n"])
        detail += (
            f"; the check's power to catch a {DETECT_POINTS:g}-point overstatement is only {r['power']:.2f} for "
            f"{_row_name(cell)} ({r['robust']}/{r['n']} robust)"
            + (f": --spot-check {needed} gives {POWER:g}" if needed and needed > size else "")
        )
    if status != "pass":
        detail += "; for a number to cite, rerun with --attack autoattack"
    return Check(CHECK_NAME, status, detail, {"rows": records, "size": size, "eps": eps})


def _images(dataset: Dataset, wanted: np.ndarray, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The sampled examples, read batch by batch (the dataset may stream from disk)."""
    keep = set(int(i) for i in wanted)
    parts = []
    for indices, images, labels in dataset.batches(batch_size):
        mask = torch.tensor([int(i) in keep for i in indices], dtype=torch.bool)
        if bool(mask.any()):
            parts.append((indices[mask], images[mask], labels[mask]))
    return (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]), torch.cat([p[2] for p in parts]))


def _broken(
    attack, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, ids: torch.Tensor, batch_size: int
) -> np.ndarray:
    broken = []
    for lo in range(0, len(labels), batch_size):
        x, y = images[lo : lo + batch_size], labels[lo : lo + batch_size]
        out = attack.run(x, y, ids[lo : lo + batch_size])
        broken.append((predict_classes(model, out.adversarial) != y).cpu().numpy())
    return np.concatenate(broken) if broken else np.zeros(0, dtype=bool)


def attack_sample(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    ids: torch.Tensor,
    threat: ThreatModel,
    seed: int,
    batch_size: int,
    budget: SpotBudget = SpotBudget(),
) -> tuple[np.ndarray, np.ndarray]:
    """``(broken by APGD-CE or APGD-T, broken by Square)`` over the sampled examples of one row, in its threat model."""
    from ..attacks.apgd import APGD, APGDT  # here: a run without a spot check never loads torchattacks
    from ..attacks.square import Square

    num_classes = num_outputs(model, images[:1])
    # APGD-T runs only where APGD-CE failed: their union is all that is recorded.
    gradient = _broken(APGD(model, threat, steps=budget.steps, seed=seed), model, images, labels, ids, batch_size)
    standing = np.flatnonzero(~gradient)
    if len(standing) and num_classes > 1:
        targeted = APGDT(
            model,
            threat,
            steps=budget.steps,
            seed=seed,
            num_classes=num_classes,
            targets=min(budget.targets, num_classes - 1),
        )
        keep = torch.as_tensor(standing)
        gradient[standing] = _broken(
            targeted, model, images[keep.to(images.device)], labels[keep.to(labels.device)], ids[keep], batch_size
        )
    # Square only where APGD failed: breaking an example twice adds nothing to the count, and the
    # masking test then assumes APGD broke every one of its examples alone (spotrule.row_verdict).
    # Square has no band-limited form: a band's row is re-attacked by APGD-CE and APGD-T only.
    square = np.zeros_like(gradient)
    standing = np.flatnonzero(~gradient)
    if len(standing) and threat.band is None:
        keep = torch.as_tensor(standing)
        square[standing] = _broken(
            Square(model, threat, queries=budget.queries, seed=seed),
            model,
            images[keep.to(images.device)],
            labels[keep.to(labels.device)],
            ids[keep],
            batch_size,
        )
    return gradient, square


def spot_check(
    result: AttackResult,
    modules: dict[str, nn.Module],
    dataset: Dataset,
    size: int,
    device: torch.device | str = "cpu",
    progress: Callable[[str], None] | None = None,
    budget: SpotBudget = SpotBudget(),
) -> Check:
    """Re-attack up to ``size`` robust examples of each reported white-box/adaptive row at the largest eps.

    ``modules`` maps each defense key (``none``, ``lowpass-r8``, ...) to the model its rows are scored on.
    """
    config = result.spec
    if size <= 0:
        return Check(CHECK_NAME, "skipped", "disabled (--no-spot-check)")
    if not config.eps or max(config.eps) == 0:
        return Check(CHECK_NAME, "skipped", "not applicable (eps = 0: there is no perturbation to look for)")
    cells = reported_cells(result.cells)
    if not cells:
        return Check(CHECK_NAME, "skipped", "not applicable (no white-box or adaptive row other than AutoAttack's)")
    rows = []
    for cell in cells:
        index, robust = result.outcomes(cell)
        sample = sample_indices(cell.key, config.seed, index[robust], size)
        gradient = square = np.zeros(0, dtype=bool)
        if len(sample):
            if progress:
                progress(
                    f"spot check: APGD-CE, APGD-T and Square on {len(sample)} robust examples of {_row_name(cell)}"
                )
            ids, images, labels = _images(dataset, sample, config.batch_size)
            images, labels = images.to(device), labels.to(device)
            model = modules[cell.defense]
            with eval_mode(model):  # a caller's train-mode BatchNorm must neither run on batch statistics nor learn
                gradient, square = attack_sample(
                    model, images, labels, ids, cell.threat, config.seed, config.batch_size, budget
                )
        rows.append((cell, row_verdict(int(robust.sum()), len(robust), gradient, square)))
    return summarize(rows, size)
