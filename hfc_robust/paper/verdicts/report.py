"""REPRODUCTION.md: one row per claim of the paper in the paper's order (the rows of
:data:`hfc_robust.paper.rules.claims.CLAIMS`), the tally of claims, the uncounted section
(baselines, other papers' claims), the rules with the commits that fixed them, the known
differences, the experiments' sections and their wall times, and the closing note on the
verdicts that changed."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

from ..rules.claims import CLAIMS
from .core import ICONS, Verdict

__all__ = ["KNOWN_DIFFERENCES", "rule_commits", "claims_rows", "tally", "reproduction_markdown"]

KNOWN_DIFFERENCES = [
    "**Models.** The paper trains ResNet-18 (its code: a ResNet-32 without BatchNorm) for 100-300 epochs. Everything "
    "we train is a 4-conv CNN (`PaperCNN`, width 16: about 61,000 weights; no BatchNorm unless the setting adds it, "
    "as in the official code) on 1,000-45,000 CIFAR-10 training images, with Adam at 1e-3 (the paper: 1e-4) so runs "
    "end in minutes on one CPU thread; Fig. 2 and Sec. 8 use the public ResNet-20/32 checkpoints (with BatchNorm).",
    "**Adversarial training.** The paper uses PGD at 8/255; we use FGSM with a random start (Wong et al. 2020) at "
    "8/255, step 10/255 (the Sec. 5 setting, `cifar10-nobn-at`, `cifar10-small-at`) and at 0.1 for `fmnist-cnn-at`.",
    "**Attacks.** The paper used Foolbox's FGSM and PGD with a minimal-eps search up to 1.0. We run fixed-eps FGSM "
    "and PGD (10 steps of eps/4, one random start) at the paper's eps, the minimal-eps PGD bisection up to 1.0 "
    "(`--min-eps`) beside them, and AutoAttack for the verdict rows, always adaptively (through the smoothed kernels).",
    "**BatchNorm.** The official code's ResNet has no BatchNorm (its `batch_normalization_layer` returns its input), "
    "so Table 2's claims are decided on models without it (`cifar10-nobn`, `cifar10-nobn-at`). The zoo's BatchNorm "
    "models are reported beside, with unnormalised Eq. 3 (which multiplies the first layer's DC gain by 1 + 8 rho, "
    "not absorbed by the fixed BatchNorm statistics) and normalised Eq. 3 (divided by 1 + 8 rho, our variant).",
    "**Mask.** The paper's text keeps frequency bins at distance <= r; the official code keeps < r. Our default is "
    "<= r; `hfc-robust spectrum --mask lt` gives the official mask (a Fig. 2 variant is shown).",
    "**Rescaling.** The official code divides x_l and x_h by their per-image maximum (`td[i] / np.max(td[i]) * 255`, "
    "the signed maximum) before training and testing; Table 1's text says the same (\"normalized to have the "
    "standard pixel scale\"), so Table 1's verdict uses it and the unrescaled runs are shown beside. Fig. 2 "
    "classifies raw components (the paper's equations) with the official rescaling as a variant. `hfc-robust "
    "spectrum --rescale` divided by max |x| until issue 26; it now divides by max x as the official code.",
    "**Test images.** The full CIFAR-10 test set is not available here: CIFAR-10 numbers use the first 1,000 test "
    "images (Fig. 2, Sec. 8, Table 2) or held-out training images 45000..49999 (Table 1, Sec. 5; never trained on).",
]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True, cwd=root).stdout


def _same_code(root: Path, commit: str, path: str) -> bool:
    """Whether ``commit`` left the module's code as it was (the same syntax tree: a reformatting, a
    re-wrapped line or a comment changes nothing the rule says)."""
    try:
        before, after = _git(root, "show", f"{commit}^:{path}"), _git(root, "show", f"{commit}:{path}")
        return ast.dump(ast.parse(before)) == ast.dump(ast.parse(after))
    except (OSError, subprocess.CalledProcessError, SyntaxError):
        return False


def rule_commits(root: Path, modules: list[str]) -> dict[str, str]:
    """Per rule module: the commit that added it and, if different, the last one that changed its code;
    commits that only reformatted it (the same syntax tree) are named as such."""
    out = {}
    for module in modules:
        path = f"hfc_robust/paper/rules/{module}.py"
        try:
            log = _git(root, "log", "--format=%H %h %ad", "--date=short", "--", path).split("\n")
        except (OSError, subprocess.CalledProcessError):
            out[module] = "(no git history)"
            continue
        commits = [line.split(" ", 1) for line in log if line.strip()]
        if not commits:
            out[module] = "(not committed)"
            continue
        text = f"added in {commits[-1][1]}"
        later = commits[:-1]
        changed = [label for full, label in later if not _same_code(root, full, path)]
        reformatted = [label.split(" ")[0] for full, label in later if label not in changed]
        if changed:
            text += f", last changed in {changed[0]}"
        if reformatted:
            text += f" (reformatted only, the same code: {', '.join(reformatted)})"
        out[module] = text
    return out


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def claims_rows(verdicts: dict[str, Verdict]) -> list[str]:
    lines = [
        "| # | where | claim (our paraphrase) | setting | our numbers | verdict | why |",
        "|---|---|---|---|---|---|---|",
    ]
    for claim in CLAIMS:
        if claim.not_run is not None:
            kind = "not an experiment" if claim.id == "3.2" else "not run"
            lines.append(
                f"| {claim.id} | {claim.where} | {claim.text} | - | - | {ICONS[kind]} | {_cell(claim.not_run)} |"
            )
            continue
        v = verdicts.get(claim.id)
        if v is None:
            lines.append(
                f"| {claim.id} | {claim.where} | {claim.text} | - | - | {ICONS['not run']} | its experiment has "
                "no stored results yet |"
            )
            continue
        old = (
            f" (earlier rule: {v.old})" if v.old and v.old != v.verdict else (" (earlier rule: same)" if v.old else "")
        )
        lines.append(
            f"| {claim.id} | {claim.where} | {claim.text} | {_cell(v.setting)} | {_cell(v.number)} | "
            f"{ICONS[v.verdict]}{old} | {_cell(v.why)} |"
        )
    return lines


def tally(verdicts: dict[str, Verdict]) -> str:
    counts = {k: 0 for k in ("reproduces", "partially", "does not", "not run", "not an experiment")}
    for claim in CLAIMS:
        if claim.not_run is not None:
            counts["not an experiment" if claim.id == "3.2" else "not run"] += 1
        else:
            counts[verdicts[claim.id].verdict if claim.id in verdicts else "not run"] += 1
    tested = counts["reproduces"] + counts["partially"] + counts["does not"]
    return (
        f"**At a glance:** {len(CLAIMS)} claims of the paper. Of the {tested} tested here: {counts['reproduces']} "
        f"reproduce, {counts['partially']} partially, {counts['does not']} do not; {counts['not run']} not run here "
        f"(the reason is in its row), {counts['not an experiment']} not an experiment. Baselines and other papers' "
        "claims are not counted (their own section below)."
    )


def reproduction_markdown(
    verdicts: dict[str, Verdict],
    baselines: list[Verdict],
    rules: dict[str, str],
    sections: list[str],
    budget: list[str],
    command: str,
    engine_version: int | None,
    changes: list[str],
) -> str:
    lines = [
        "# Reproducing Wang et al. (CVPR 2020) with hfc-robust",
        "",
        "*High-Frequency Component Helps Explain the Generalization of Convolutional Neural Networks* (Wang, Wu, "
        "Huang & Xing) — every claim of the paper, each tested on what a CPU can afford, each decided by a rule "
        "committed before its experiment ran (`hfc_robust/paper/rules/`).",
        "",
        f"Regenerate everything in `results/paper/` with `{command}` (`--retrain` retrains every model first); one "
        "experiment alone, resumable, with `--only NAME` (the budget table below lists them).",
        "",
    ]
    if engine_version is not None:
        lines += [
            f"Every bench run stored here was produced by hfc-robust engine version {engine_version} "
            "(`engine_version` in each run.json).",
            "",
        ]
    lines += [tally(verdicts), ""] + claims_rows(verdicts)
    lines += [
        "",
        'Claims are paraphrased; the rule files quote the paper\'s words. "Earlier rule" gives the verdict '
        "under the rule REPRODUCTION.md used before issue 26, where a rule was changed after its numbers were "
        "seen. The details of every verdict are in the sections below.",
        "",
        "## Baselines and other papers' claims (not counted)",
        "",
        "| claim | setting | our numbers | verdict | why |",
        "|---|---|---|---|---|",
    ]
    for v in baselines:
        old = (
            f" (earlier rule: {v.old})" if v.old and v.old != v.verdict else (" (earlier rule: same)" if v.old else "")
        )
        lines.append(
            f"| {_cell(v.claim)} | {_cell(v.setting)} | {_cell(v.number)} | {ICONS[v.verdict]}{old} | {_cell(v.why)} |"
        )
    lines += [
        "",
        "## Rules, and when they were fixed",
        "",
        "Each experiment's rule is a module of `hfc_robust/paper/rules/` (its words, its thresholds); the code "
        "applying it is `hfc_robust/paper/verdicts/`. The git history shows each rule committed before the "
        "results it decides.",
        "",
        "| rule | decides | commit |",
        "|---|---|---|",
    ]
    decides: dict[str, list[str]] = {}
    for claim in CLAIMS:
        if claim.rule:
            decides.setdefault(claim.rule, []).append(claim.id)
    decides["baselines"] = ["AT baseline", "Yin et al."]
    decides["common"] = ["all (the statistics)"]
    for module, commit in rules.items():
        lines.append(f"| `rules/{module}.py` | {', '.join(decides.get(module, []))} | {commit} |")
    lines += ["", "## Known differences from the paper and its official code", ""]
    lines += [f"* {item}" for item in KNOWN_DIFFERENCES]
    lines += [""] + sections + ["## Budget: the experiments and their wall times", ""] + budget + [""]
    lines += ["## Closing note: the verdicts that changed with issue 26, and why", ""]
    lines += [f"* {change}" for change in changes] if changes else ["* none"]
    return "\n".join(lines) + "\n"
