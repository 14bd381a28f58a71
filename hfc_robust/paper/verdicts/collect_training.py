"""Reads the stored records of Fig. 3, Table 1 and Sec. 5 under ``results/paper/`` and returns their
verdicts and REPRODUCTION.md sections (every number from the stored files; no torch)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..rules import common
from ..rules import heuristics as heuristics_rule
from ..rules import table1 as table1_rule
from .core import Verdict, pct
from .heuristics import heuristics_claims, measure
from .legacy import table1_verdicts
from .stats import t_interval
from .training import claim_4_1, claim_4_2, claim_4_3

__all__ = ["load_records", "collect_fig3", "collect_table1", "collect_heuristics"]


def load_records(folder: Path, pattern: str) -> dict[str, tuple[dict, dict]]:
    """``{stem: (record, arrays)}`` of the complete run records matching ``pattern``."""
    out = {}
    for path in sorted(folder.glob(pattern)):
        record = json.loads(path.read_text())
        if not record.get("complete"):
            continue
        arrays = {}
        if path.with_suffix(".npz").is_file():
            with np.load(path.with_suffix(".npz")) as archive:
                arrays = {k: archive[k] for k in archive.files}
        out[path.stem] = (record, arrays)
    return out


def collect_fig3(out: Path) -> tuple[list[Verdict], list[str]]:
    records = load_records(out / "fig3", "seed*-*.json")
    runs: dict[int, dict[str, dict]] = {}
    for record, _ in records.values():
        runs.setdefault(record["seed"], {})[record["condition"]] = record
    runs = {s: pair for s, pair in runs.items() if len(pair) == 2}
    if not runs:
        return [], []
    v41, v42 = claim_4_1(runs), claim_4_2(runs)
    lines = []
    for seed, pair in sorted(runs.items()):
        for condition in ("natural", "shuffled"):
            r = pair[condition]
            last = r["history"][-1]
            lines.append(
                f"| {seed} | {condition} | {r['epochs']} ({r['stopped']}) | {pct(last['correct_x'], r['train_n'])} | "
                + " | ".join(pct(last[f"correct_x_l@{x:g}"], r["train_n"]) for x in r["radii"])
                + f" | {r['wall_time_s']:.0f} s |"
            )
    section = [
        "## Sec. 4 (Fig. 3): natural and shuffled labels",
        "",
        f"PaperCNN without BatchNorm, Adam 1e-3, batch 100, no augmentation, on the first "
        f"{next(iter(runs.values()))['natural']['train_n']} "
        "CIFAR-10 training images, with their labels (M_natural) or a fixed random permutation of them "
        "(M_shuffle), scored after every epoch on all of them, on x and on x_l; trained until 95% on x. Records: "
        "`fig3/seed<S>-<labels>.json`. The paper fitted all 50,000 images with a ResNet-18 (100 and 300 epochs); "
        "on 1,000 images even x_l at r = 4 may tell the images apart, which a memorising model can use.",
        "",
        "| seed | labels | epochs | on x at the end | x_l r=4 | r=8 | r=12 | r=16 | wall time |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *lines,
        "",
        f"* 4.1: {v41.verdict}: {v41.why} {v41.number}.",
        f"* 4.2: {v42.verdict}: {v42.why} Per seed (* significant after Holm): " + "; ".join(v42.details),
        "",
        "![fig3](fig3/fig3.png)",
        "",
    ]
    return [v41, v42], section


def collect_table1(out: Path) -> tuple[Verdict | None, list[str]]:
    records = load_records(out / "table1", "*-seed*.json")
    runs: dict[tuple[str, str], list[tuple[dict, dict]]] = {}
    for record, arrays in sorted(records.values(), key=lambda pair: pair[0]["seed"]):
        runs.setdefault((record["input"], record["rescale"]), []).append((record, arrays))
    complete = {key: value for key, value in runs.items() if len(value) == len(common.SEEDS)}
    needed = [(f"{k}@{r:g}", s) for s in table1_rule.RESCALINGS for k in ("x_l", "x_h") for r in table1_rule.RADII]
    if not all(key in complete for key in needed if key[1] == "max"):
        return None, []
    old_path = out / "table1_training.json"
    old = None
    if old_path.is_file():
        legacy = table1_verdicts(json.loads(old_path.read_text()))
        old = "; ".join(f"{v.claim.split(' (')[0].lower()}: {v.verdict}" for v in legacy)
    verdict = claim_4_3(complete, old=old)
    rows = []
    for (name, rescale), value in sorted(complete.items()):
        on_x = t_interval(np.mean([a["correct_x"].astype(float) for _, a in value], axis=0))
        same = t_interval(np.mean([a["correct_same"].astype(float) for _, a in value], axis=0))
        epochs = ", ".join(f"{r['best_epoch']}/{r['epochs']}" for r, _ in value)
        wall = sum(r["wall_time_s"] for r, _ in value)
        rows.append(
            f"| {name} | {rescale} | {100 * on_x[0]:.1f} [{100 * on_x[1]:.1f}, {100 * on_x[2]:.1f}] | "
            f"{100 * same[0]:.1f} | {epochs} | {wall:.0f} s |"
        )
    section = [
        "## Sec. 4 (Table 1): trained on x_l or x_h, tested on original images",
        "",
        f"PaperCNN without BatchNorm trained on the first {table1_rule.TRAIN_N} CIFAR-10 training images as x, x_l "
        f"or x_h, {len(common.SEEDS)} seeds, each run stopped when its validation accuracy (images "
        f"{table1_rule.TRAIN_N}..{table1_rule.TRAIN_N + table1_rule.VALIDATION - 1}, in its own view) had not improved "
        f'for {table1_rule.PATIENCE} epochs ("trained long enough to converge"), keeping the best epoch\'s weights; '
        f"tested on the {table1_rule.HOLDOUT} held-out images 45000..49999. Accuracy seeds averaged, with the 95% t "
        "interval over images; epochs: best/trained per seed. Records: `table1/<input>-<rescale>-seed<S>.json`.",
        "",
        "| trained on | rescaling | on original images (%) | on its own view (%) | epochs (best/run) | wall time |",
        "|---|---|---:|---:|---|---:|",
        *rows,
        "",
        *[f"* {line}" for line in verdict.details],
        "",
        "![table1](table1/table1.png)",
        "",
    ]
    return verdict, section


def collect_heuristics(out: Path) -> tuple[list[Verdict], list[str]]:
    records = load_records(out / "heuristics", "*-seed*.json")
    runs: dict[str, list[tuple[dict, dict]]] = {}
    for record, arrays in sorted(records.values(), key=lambda pair: pair[0]["seed"]):
        runs.setdefault(record["setting"], []).append((record, arrays))
    seeds = {s: [r["seed"] for r, _ in v] for s, v in runs.items()}
    if not runs or any(seeds.get(s) != list(common.SEEDS) for s in heuristics_rule.SETTINGS):
        return [], []
    verdicts = heuristics_claims(runs)
    for v in verdicts:
        v.setting = (
            f"PaperCNN, {heuristics_rule.EPOCHS} epochs on the first {heuristics_rule.TRAIN_N} CIFAR-10 training "
            f"images, {len(common.SEEDS)} seeds; held-out images 45000..{45000 + heuristics_rule.HOLDOUT - 1}"
        )
    rows = []
    for setting in heuristics_rule.SETTINGS:
        value = runs[setting]
        cells = [
            t_interval(np.mean([measure(a, m) for _, a in value], axis=0))
            for m in ("train", "test", "L", "H", "L4", "H4", "H16")
        ]
        wall = sum(r["wall_time_s"] for r, _ in value)
        rows.append(
            f"| {setting} | "
            + " | ".join(f"{100 * c[0]:.1f} [{100 * c[1]:.1f}, {100 * c[2]:.1f}]" for c in cells)
            + f" | {wall:.0f} s |"
        )
    section = [
        "## Sec. 5 (Figs. 4-6): training heuristics",
        "",
        f"The vanilla set-up (PaperCNN without BatchNorm, Adam 1e-3, batch {heuristics_rule.BATCH}, no augmentation, "
        f"{heuristics_rule.EPOCHS} epochs on the first {heuristics_rule.TRAIN_N} CIFAR-10 training images) and one "
        f"change per setting, {len(common.SEEDS)} seeds each; after the last epoch, accuracy (%, seeds averaged per "
        "image, "
        f"95% t interval over images) on the training "
        f"images (train) and on the {heuristics_rule.HOLDOUT} held-out images 45000..49999: on x (test), on x_l "
        "and x_h averaged over r = 4, 8, 12, 16 (L, H), and at single radii; seeds averaged. Along training: "
        "`heuristics/<setting>-seed<S>.json` and the figure. Comparisons (A - B, points, paired over images with "
        "seeds averaged, [95% interval], then each seed) as the rule states. "
        f"The budget is fixed, as the paper's 100 epochs: after {heuristics_rule.EPOCHS} epochs "
        f"the vanilla model is at "
        f"{100 * np.mean([measure(a, 'train').mean() for _, a in runs['vanilla']]):.0f}% on its training images "
        "(seeds averaged), so the generalization gaps are those of models still learning.",
        "",
        "| setting | train | test | L | H | L(4) | H(4) | H(16) | wall time (3 seeds) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        *[f"* {v.claim}: {v.verdict}. {v.why} " + "; ".join(v.details) for v in verdicts],
        "",
        "![heuristics](heuristics/heuristics.png)",
        "",
    ]
    return verdicts, section
