"""Issue 27's paper section: where in the spectrum a model breaks under attack, band by band.

    python scripts/paper_bands.py                 # run what is missing (resumable), then write the verdict
    python scripts/paper_bands.py --only NAME     # one run (resnet20-pgd, resnet20-autoattack, small-at-pgd, ...)
    python scripts/paper_bands.py --report        # only the verdict, from the stored runs

Each run is ``hfc-robust bench`` into ``results/paper/bands_resnet20/NAME/`` (resumable: an interrupted
run continues from its checkpoint); :func:`section` returns the Markdown section for REPRODUCTION.md,
which :func:`write_report` also stores as ``results/paper/bands_resnet20/VERDICT.md``.

The grid: the first 1,000 CIFAR-10 test images; ResNet-20 (natural, ../shared) and cifar10-small-at
(FGSM-RS adversarially trained, the zoo's); bare and with the low-pass filter at r = 4, 8, 12 (mask
d <= r); bands 0-4, 4-8, 8-12, 12-16, 16-23 and the whole spectrum (``all``); L-inf eps 4/255 and
8/255; PGD-10 on all 1,000 images with the strong-attack spot check, and AutoAttack (in a band: its
gradient stages APGD-CE and APGD-T, standard budgets) on the first :data:`AUTOATTACK_N` images, the
budget the 2 shared CPU cores allowed (measured: ``BUDGET`` below); the binarization test on every
row at 8/255 of both runs.

The verdict rule, fixed before the runs (tests check nothing of it; it is the reading of the numbers):

Headline per row: the adaptive row through a defense, the white-box row of the bare model; on the
PGD run its PGD row, on the AutoAttack run its ``autoattack`` row. "Broken share" of a row: the share
of the examples its model classifies correctly clean that the attack breaks.

* **Q1, concentration.** The paper explains adversarial vulnerability by high-frequency components.
  On the natural ResNet-20 (PGD run, 1,000 images), for each eps, the bare model's robust accuracy in
  each high band (12-16 and 16-23) is compared with the low band 0-4 (paired, one-sided exact
  McNemar, the high band lower; Holm over the 4 comparisons, alpha 0.01). *Supported* when all 4
  are significant and, at 8/255, both high bands leave at most 10% robust while 0-4 leaves at least
  25%; *partly supported* when all 4 are significant but those levels fail (low frequencies break
  the model too); *not supported* otherwise.
* **Q2, the defense removes it there.** For each r and each band outside r (its start >= r), the
  adaptive robust accuracy is at least the defended clean accuracy minus 2 points, at both eps,
  and the band consistency check passes. *Supported* when all hold.
* **Q3, not moved to the low bands.** For each r, each band inside r and each eps: is the defended
  model's broken share (adaptive) larger than the bare model's (white-box) in the same band?
  One-sided Fisher exact test on the two shares, Holm over all these comparisons, alpha 0.01.
  *Not moved* when none is significant; *moved* (listing where) otherwise.

The AutoAttack subset repeats Q1-Q3's numbers descriptively on its images (no test: n is small),
and the verdict says where it disagrees with PGD; the adversarially trained model is reported
beside the natural one, descriptively.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import pandas as pd

SHARED = Path(os.environ.get("HFC_ROBUST_SHARED", ROOT.parent / "shared"))
CIFAR_TEST = SHARED / "data" / "cifar10" / "cifar10_test_first1000.npz"
RESNET20 = SHARED / "models" / "cifar10-resnet" / "resnet20-12fca82f.th"
OUT = ROOT / "results" / "paper" / "bands_resnet20"
BANDS = "0-4,4-8,8-12,12-16,16-23,all"
HIGH, LOW = ("12-16", "16-23"), "0-4"
EPS = "4/255,8/255"
RADII = (4, 8, 12)
AUTOATTACK_N = 50  #: AutoAttack's images: what the shared CPU allowed (BUDGET)
ALPHA = 0.01
#: measured before the runs (ResNet-20, 1 thread of 2 cores shared with two other jobs): the grid's 48 PGD-10 units
#: took 84 s for 50 images (about 28 min for 1,000); its AutoAttack units about 2.5 min per image (20 images: 16
#: of 48 units in 17 min), so 1,000 images would take about 40 hours per model, and 50 about 2 hours
BUDGET = "PGD-10 grid: ~1.7 s per image; AutoAttack grid: ~150 s per image (ResNet-20, one shared CPU thread)"

MODELS = {
    "resnet20": ["--model", "resnet20", "--weights", str(RESNET20)],
    "small-at": ["--model", "cifar10-small-at"],
}


def runs() -> dict[str, list[str]]:
    """Every run: its name and its ``hfc-robust bench`` arguments (``--out`` added by :func:`run`)."""
    common = [
        "--dataset",
        f"npz:{CIFAR_TEST}",
        "--band",
        BANDS,
        "--eps",
        EPS,
        "--radius",
        ",".join(map(str, RADII)),
        "--seed",
        "0",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--quiet",
        "--check-binarization",
        "--allow-failed-checks",
    ]
    table = {}
    for model, arguments in MODELS.items():
        table[f"{model}-pgd"] = arguments + common + ["--attack", "pgd", "--n", "1000"]
        table[f"{model}-autoattack"] = arguments + common + ["--attack", "autoattack", "--n", str(AUTOATTACK_N)]
    return table


def run(name: str) -> None:
    """One run into OUT/NAME (resumed from its checkpoint when interrupted)."""
    folder = OUT / name
    if (folder / "results.csv").is_file():
        return
    command = ["nice", "-n", "10", sys.executable, "-m", "hfc_robust.cli", "bench", *runs()[name], "--out", str(folder)]
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})


# ---------------------------------------------------------------------------------------------- reading


def _load(name: str) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]] | None:
    folder = OUT / name
    if not (folder / "bands.csv").is_file():
        return None
    bands = pd.read_csv(folder / "bands.csv", keep_default_na=False, na_values=[""])
    examples = pd.read_csv(folder / "examples.csv.gz")
    checks = json.loads((folder / "checks.json").read_text())
    return bands, examples, checks


def _row(bands: pd.DataFrame, defense: str, scenario: str, attack: str, band: str, eps255: float) -> pd.Series:
    pick = bands[
        (bands["defense"] == defense)
        & (bands["threat_model"] == scenario)
        & (bands["attack"] == attack)
        & (bands["band"] == band)
        & ((bands["eps_255"] - eps255).abs() < 1e-6)
    ]
    if len(pick) != 1:
        raise KeyError(f"{defense} {scenario} {attack} {band} {eps255}: {len(pick)} rows")
    return pick.iloc[0]


def _robust(examples: pd.DataFrame, cell: str) -> np.ndarray:
    return examples.loc[examples["cell"] == cell].sort_values("index")["robust"].to_numpy(bool)


def _clean_correct(examples: pd.DataFrame, cell: str) -> np.ndarray:
    rows = examples.loc[examples["cell"] == cell].sort_values("index")
    return (rows["clean_pred"] == rows["label"]).to_numpy(bool)


def _mcnemar_lower(lower: np.ndarray, higher: np.ndarray) -> float:
    """One-sided exact McNemar: P(discordant split at least this much towards ``lower`` being less robust)."""
    from scipy import stats

    only_low_robust = int((lower & ~higher).sum())  # robust only where robustness should be lower
    only_high_robust = int((higher & ~lower).sum())
    n = only_low_robust + only_high_robust
    return float(stats.binomtest(only_high_robust, n, 0.5, alternative="greater").pvalue) if n else 1.0


def _holm(pvalues: list[float], alpha: float = ALPHA) -> list[bool]:
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    rejected = [False] * len(pvalues)
    for rank, i in enumerate(order):
        if pvalues[i] > alpha / (len(pvalues) - rank):
            break
        rejected[i] = True
    return rejected


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def write_report() -> None:
    """VERDICT.md from the stored runs (filled in below, once the rule above was committed)."""
    raise NotImplementedError


# ---------------------------------------------------------------------------------------------- main

ORDER = ("resnet20-pgd", "small-at-pgd", "resnet20-autoattack", "small-at-autoattack")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=ORDER, help="one run (resumable)")
    parser.add_argument("--report", action="store_true", help="only write VERDICT.md from the stored runs")
    args = parser.parse_args(argv)
    if not args.report:
        if not (CIFAR_TEST.is_file() and RESNET20.is_file()):
            raise SystemExit(f"needs ../shared (CIFAR-10 and ResNet-20) under {SHARED}")
        for name in [args.only] if args.only else ORDER:
            run(name)
    if not args.only:
        write_report()


if __name__ == "__main__":
    main()
