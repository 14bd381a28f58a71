"""Claims 4.1, 4.2 (Fig. 3) and 4.3 (Table 1) by :mod:`hfc_robust.paper.rules.label_shuffle` and
:mod:`hfc_robust.paper.rules.table1`, from the run records under ``results/paper/fig3/`` and
``results/paper/table1/``."""

from __future__ import annotations

import math

import numpy as np

from ...results.stats import fisher_greater, wilson_interval
from ..rules import common
from ..rules import label_shuffle as shuffle_rule
from ..rules import table1 as table1_rule
from .core import Verdict, pct
from .stats import compare_seeds, holm, t_interval

__all__ = ["first_epoch", "claim_4_1", "claim_4_2", "claim_4_3"]


def first_epoch(history: list[dict], level: float, n: int) -> float:
    """The first epoch whose accuracy on x reaches ``level`` (inf if none)."""
    return next((float(h["epoch"]) for h in history if h["correct_x"] >= level * n), math.inf)


def _epochs(e: float) -> str:
    return "never" if math.isinf(e) else f"{e:.0f}"


def claim_4_1(runs: dict[int, dict[str, dict]]) -> Verdict:
    """``runs``: seed -> {"natural": record, "shuffled": record}."""
    cases, lines, compact = [], [], []
    seeds = sorted(runs)
    n = runs[seeds[0]]["natural"]["train_n"]
    for level in shuffle_rule.LEVELS:
        nat = [first_epoch(runs[s]["natural"]["history"], level, n) for s in seeds]
        shu = [first_epoch(runs[s]["shuffled"]["history"], level, n) for s in seeds]
        cases += [b > a for a, b in zip(nat, shu)]
        compact.append(
            f"to {100 * level:.0f}%: natural {'/'.join(map(_epochs, nat))} vs shuffled {'/'.join(map(_epochs, shu))}"
        )
    for seed in seeds:
        lines.append(
            f"seed {seed}: "
            + "; ".join(
                f"{100 * level:.0f}%: natural "
                f"{_epochs(first_epoch(runs[seed]['natural']['history'], level, n))}, shuffled "
                f"{_epochs(first_epoch(runs[seed]['shuffled']['history'], level, n))}"
                for level in shuffle_rule.LEVELS
            )
        )
    verdict = "reproduces" if all(cases) else "partially" if sum(cases) >= len(cases) / 2 else "does not"
    why = f"M_shuffle needs more epochs in {sum(cases)} of {len(cases)} (seed, level) cases"
    return Verdict(
        "4.1",
        f"PaperCNN without BatchNorm, first {n} CIFAR-10 training images, seeds {', '.join(map(str, seeds))}",
        f"epochs (seeds {'/'.join(map(str, seeds))}) " + "; ".join(compact),
        verdict,
        why + ".",
        lines,
    )


def _at(history: list[dict], epoch: float) -> dict | None:
    return None if math.isinf(epoch) else next(h for h in history if h["epoch"] == epoch)


def claim_4_2(runs: dict[int, dict[str, dict]]) -> Verdict:
    seeds_a, seeds_any, seeds_b, lines = [], [], [], []
    for seed, pair in sorted(runs.items()):
        n = pair["natural"]["train_n"]
        tests, parts = [], []
        for level in shuffle_rule.LEVELS:
            nat = _at(pair["natural"]["history"], first_epoch(pair["natural"]["history"], level, n))
            shu = _at(pair["shuffled"]["history"], first_epoch(pair["shuffled"]["history"], level, n))
            for radius in (4.0, 8.0):
                key = f"correct_x_l@{radius:g}"
                if nat is None or shu is None:
                    tests.append(1.0)
                    parts.append(f"{100 * level:.0f}%, r={radius:g}: not reached")
                    continue
                tests.append(fisher_greater(nat[key], n, shu[key], n))
                parts.append(
                    f"{100 * level:.0f}%, r={radius:g}: natural {100 * nat[key] / n:.1f}% vs shuffled "
                    f"{100 * shu[key] / n:.1f}%"
                )
        significant = holm(tests)
        last = pair["shuffled"]["history"][-1]["correct_x_l@4"]
        barely = wilson_interval(last, n)[1] < 1 / common.NUM_CLASSES + shuffle_rule.BARELY_POINTS / 100
        seeds_a.append(all(significant))
        seeds_any.append(any(significant))
        seeds_b.append(barely)
        lines.append(
            f"seed {seed}: "
            + "; ".join(f"{p}{' *' if s else ''}" for p, s in zip(parts, significant))
            + f"; M_shuffle at the end, r=4: {pct(last, n)}{' (barely)' if barely else ''}"
        )
    full = [a and b for a, b in zip(seeds_a, seeds_b)]
    verdict = "reproduces" if all(full) else "partially" if all(seeds_any) or any(full) else "does not"
    why = (
        f"(a) natural above shuffled in all four matched tests in {sum(seeds_a)} of {len(seeds_a)} seeds, in at least "
        f"one in {sum(seeds_any)}; (b) M_shuffle barely learns x_l at r = 4 in {sum(seeds_b)} of {len(seeds_b)} seeds"
    )
    seeds = sorted(runs)
    compact = []
    for level in shuffle_rule.LEVELS:
        for radius in (4.0, 8.0):
            values = {}
            for condition in ("natural", "shuffled"):
                cells = []
                for seed in seeds:
                    history = runs[seed][condition]["history"]
                    row = _at(history, first_epoch(history, level, runs[seed][condition]["train_n"]))
                    cells.append(
                        "-"
                        if row is None
                        else f"{100 * row[f'correct_x_l@{radius:g}'] / runs[seed][condition]['train_n']:.0f}"
                    )
                values[condition] = "/".join(cells)
            compact.append(f"at {100 * level:.0f}% r={radius:g}: {values['natural']} vs {values['shuffled']}")
    ends = "/".join(
        f"{100 * runs[s]['shuffled']['history'][-1]['correct_x_l@4'] / runs[s]['shuffled']['train_n']:.0f}"
        for s in seeds
    )
    return Verdict(
        "4.2",
        "as 4.1",
        f"training accuracy (%) on x_l at matched accuracy on x, natural vs shuffled (seeds "
        f"{'/'.join(map(str, seeds))}): " + "; ".join(compact) + f"; M_shuffle at the end, r=4: {ends}",
        verdict,
        why + ".",
        lines,
    )


def _mean_correct(records: list[tuple[dict, dict]], key: str) -> np.ndarray:
    return np.mean([arrays[key].astype(float) for _, arrays in records], axis=0)


def claim_4_3(runs: dict[tuple[str, str], list[tuple[dict, dict]]], old: str | None = None) -> Verdict:
    """``runs``: (input view, rescale) -> [(record, arrays)] over the seeds (same seed order)."""
    per, lines = {}, {}
    for rescale in table1_rule.RESCALINGS:
        ok_margin, ok_better, learned, parts = [], [], [], []
        for radius in table1_rule.RADII:
            low, high = runs.get((f"x_l@{radius:g}", rescale)), runs.get((f"x_h@{radius:g}", rescale))
            if not low or not high:
                ok_margin.append(False)
                ok_better.append(False)
                learned.append(False)
                parts.append(f"r={radius:g}: missing")
                continue
            diff = compare_seeds([a["correct_x"] for _, a in low], [a["correct_x"] for _, a in high])
            same = t_interval(_mean_correct(high, "correct_same"))
            seeds_positive = all(d > 0 for d in diff.per_seed)
            ok_margin.append(diff.low >= table1_rule.MARGIN_POINTS / 100 and seeds_positive)
            ok_better.append(diff.low > 0 and seeds_positive)
            learned.append(same[1] > 1 / common.NUM_CLASSES)
            on_x_h = t_interval(_mean_correct(high, "correct_x"))
            parts.append(
                f"r={radius:g}: x_l-trained {100 * t_interval(_mean_correct(low, 'correct_x'))[0]:.1f}%, "
                f"x_h-trained {100 * on_x_h[0]:.1f}% [{100 * on_x_h[1]:.1f}, {100 * on_x_h[2]:.1f}] "
                f"({'above' if on_x_h[1] > 0.1 else 'not above'} chance; on its own view "
                f"{100 * same[0]:.1f}%), difference {diff.text()} points"
            )
        verdict = "reproduces" if all(ok_margin) and all(learned) else "partially" if all(ok_better) else "does not"
        per[rescale], lines[rescale] = verdict, parts
    full = runs.get(("x", "none"))
    extra = ""
    if full:
        acc = t_interval(_mean_correct(full, "correct_x"))
        extra = f"; trained on x: {100 * acc[0]:.1f}% [{100 * acc[1]:.1f}, {100 * acc[2]:.1f}]"
    details = [
        f"**{'official rescaling (x / max x, the paper)' if r == 'max' else 'no rescaling'}**: {per[r]}. "
        + "; ".join(lines[r])
        for r in table1_rule.RESCALINGS
    ]
    n_seeds = len(next(iter(runs.values()))) if runs else 0
    return Verdict(
        "4.3",
        f"PaperCNN without BatchNorm trained on the first {table1_rule.TRAIN_N} CIFAR-10 training "
        f"images ({n_seeds} seeds, early-stopped), tested on held-out images 45000..49999",
        "accuracy on original images, seeds averaged [95% t interval over images] — " + "; ".join(lines["max"]) + extra,
        per["max"],
        f"with the paper's rescaling: {per['max']}; without: {per['none']} (rule: x_l beats x_h by >= "
        f"{table1_rule.MARGIN_POINTS:g} points at every radius).",
        details,
        old,
    )
