"""Assemble REPRODUCTION.md and the figures of issue 26's experiments from everything stored under
``results/paper/``: the verdict of every claim, the uncounted section, the sections, the budget
and the closing note. Experiments without stored results show as "not run yet"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...results.io import atomic_write_bytes, atomic_write_text
from ...results.plots import png_bytes
from ..rules import kernels as kernel_rule
from ..rules.claims import CLAIMS
from .collect_attacks import collect_fig2, collect_kernels, collect_table2
from .collect_training import collect_fig3, collect_heuristics, collect_table1, load_records
from .core import ICONS, Verdict
from .figures import fig3_figure, heuristics_figure, kernels_figure, table1_figure_seeds
from .report import reproduction_markdown, rule_commits

__all__ = ["collect_all", "wall_times", "closing_note", "write_reproduction"]

RULE_MODULES = ["common", "spectrum", "label_shuffle", "table1", "heuristics", "kernels", "smoothing", "baselines"]


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    atomic_write_bytes(path, png_bytes(fig))
    plt.close(fig)


def collect_all(out: Path, log=print) -> tuple[dict[str, Verdict], list[Verdict], list[str]]:
    """Every verdict that has its stored results, the baselines and the sections (figures written)."""
    verdicts, baselines, sections = {}, [], []
    steps = [
        ("fig2", lambda: collect_fig2(out), (out / "svd").is_dir()),
        ("fig3", lambda: collect_fig3(out), (out / "fig3").is_dir()),
        ("table1", lambda: collect_table1(out), (out / "table1").is_dir()),
        ("heuristics", lambda: collect_heuristics(out), (out / "heuristics").is_dir()),
    ]
    for name, collect, present in steps:
        if not present:
            log(f"[report] {name}: no stored results")
            continue
        found, section = collect()
        for v in [found] if isinstance(found, Verdict) else found or []:
            verdicts[v.claim] = v
        sections += section
    if (out / "fig3").is_dir():
        records = [r for r, _ in load_records(out / "fig3", "seed*-*.json").values()]
        if records:
            _save(fig3_figure(records), out / "fig3" / "fig3.png")
    if (out / "table1").is_dir():
        rows: dict[tuple[str, str], list[float]] = {}
        for record, arrays in load_records(out / "table1", "*-seed*.json").values():
            rows.setdefault((record["input"], record["rescale"]), []).append(float(arrays["correct_x"].mean()))
        if rows:
            _save(table1_figure_seeds(rows), out / "table1" / "table1.png")
    if (out / "heuristics").is_dir():
        runs: dict[str, list] = {}
        for record, arrays in sorted(
            load_records(out / "heuristics", "*-seed*.json").values(), key=lambda x: x[0]["seed"]
        ):
            runs.setdefault(record["setting"], []).append((record, arrays))
        if runs:
            _save(heuristics_figure(runs), out / "heuristics" / "heuristics.png")
    if (out / "kernels" / "first_layers.npz").is_file():
        v, section = collect_kernels(out)
        verdicts[v.claim] = v
        sections += section
        with np.load(out / "kernels" / "first_layers.npz") as archive:
            weights = {k: archive[k] for k in archive.files}
        shown = [pair for pair in kernel_rule.PAIRS if all(name in weights for name in pair)]
        _save(kernels_figure(weights, shown), out / "kernels" / "kernels.png")
    if (out / "table2_paper").is_dir() and all(
        (out / "table2_paper" / m / "outcomes.csv.gz").is_file() for m in ("cifar10-nobn", "cifar10-nobn-at")
    ):
        found, base, section = collect_table2(out)
        for v in found:
            verdicts[v.claim] = v
        baselines += base
        sections += section
    return verdicts, baselines, sections


def wall_times(out: Path) -> dict[str, float]:
    """Seconds per experiment, summed from the stored records (one CPU thread each)."""
    times: dict[str, float] = {}
    for name, folder, pattern in (
        ("fig3", "fig3", "seed*-*.json"),
        ("heuristics", "heuristics", "*-seed*.json"),
        ("table1", "table1", "*-seed*.json"),
    ):
        times[name] = (
            sum(r.get("wall_time_s", 0.0) for r, _ in load_records(out / folder, pattern).values())
            if (out / folder).is_dir()
            else 0.0
        )
    times["svd"] = sum(json.loads(p.read_text()).get("wall_time_s", 0.0) for p in (out / "svd").glob("*/record.json"))
    times["table2-paper"] = sum(
        json.loads(p.read_text()).get("wall_time_s", 0.0) for p in (out / "table2_paper").glob("*/*/run.json")
    )
    times["table2-bn"] = sum(
        json.loads(p.read_text()).get("wall_time_s", 0.0) for p in (out / "table2").glob("*/run.json")
    )
    times["bands"] = sum(  # issue 27's runs (scripts/paper_bands.py)
        json.loads(p.read_text()).get("wall_time_s", 0.0) for p in (out / "bands_resnet20").glob("*/run.json")
    )
    times["spectrum"] = sum(
        json.loads(p.read_text()).get("wall_time_s", 0.0) for p in (out / "spectrum").glob("*/run.json")
    )
    for name, folder in (
        ("heatmap", "heatmap_resnet20"),
        ("perturbation spectra", "perturbation_spectra_resnet20"),
        ("corruptions", "corruptions_resnet20"),
        ("l2", "l2_autoattack_resnet20"),
    ):
        path = out / folder / "run.json"
        times[name] = json.loads(path.read_text()).get("wall_time_s", 0.0) if path.is_file() else 0.0
    return times


def closing_note(verdicts: dict[str, Verdict], baselines: list[Verdict]) -> list[str]:
    lines = []
    for claim in CLAIMS:
        v = verdicts.get(claim.id)
        if v is None:
            continue
        if v.old is None:
            lines.append(
                f"{claim.id} ({claim.where}): new, {ICONS[v.verdict]} — no earlier verdict (the experiment was "
                "not run before issue 26)."
            )
        elif v.old != v.verdict:
            lines.append(f"{claim.id} ({claim.where}): earlier {v.old}; now {ICONS[v.verdict]} — {v.why}")
        else:
            lines.append(f"{claim.id} ({claim.where}): unchanged, {ICONS[v.verdict]}, under both rules.")
    for v in baselines:
        if v.old is not None:
            state = "unchanged" if v.old == v.verdict else f"earlier {v.old}; now {ICONS[v.verdict]}"
            lines.append(f"{v.claim} (not counted): {state} — {v.why}")
    return lines


def write_reproduction(
    out: Path,
    root: Path,
    beyond: list[str],
    baselines_extra: list[Verdict],
    budget: list[str],
    command: str,
    engine_version: int | None,
    log=print,
) -> Path:
    verdicts, baselines, sections = collect_all(out, log)
    baselines += baselines_extra
    text = reproduction_markdown(
        verdicts,
        baselines,
        rule_commits(root, RULE_MODULES),
        sections + beyond,
        budget,
        command,
        engine_version,
        closing_note(verdicts, baselines),
    )
    atomic_write_text(out / "REPRODUCTION.md", text)
    log(f"[report] wrote {out / 'REPRODUCTION.md'} ({len(verdicts)} claims with a verdict)")
    return out / "REPRODUCTION.md"
