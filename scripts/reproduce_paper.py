"""Regenerate results/paper/ (tables, figures, REPRODUCTION.md) from the committed weights and records.

    python scripts/reproduce_paper.py            # REPRODUCTION.md from everything stored, running what is missing
    python scripts/reproduce_paper.py --retrain  # train every model first (measured: see REPRODUCTION.md's budget)
    python scripts/reproduce_paper.py --only NAME  # one experiment of issue 26, resumable; `--only report` only writes

Every claim of Wang et al. (CVPR 2020) is decided by a rule committed before its experiment ran
(hfc_robust/paper/rules/), applied to the stored numbers by hfc_robust/paper/verdicts/. The
experiments (all seeded; the CIFAR-10 ones need ../shared and are skipped without it):

* Fig. 2 (Sec. 3) and Sec. 8: predictions on x_l and x_h of `fmnist-cnn` (first 1,000 Fashion-MNIST test
  images) and ResNet-20/32 (first 1,000 CIFAR-10 test images; official mask and rescaling as variants),
  against a permutation null; the truncated-SVD split beside the Fourier one (`--only svd`).
* Fig. 3, Figs. 4-6, Table 1: PaperCNN trained along the paper's vanilla set-up, 3 seeds
  (`--only fig3`, `heuristics`, `table1`; hfc_robust/paper/experiments/).
* Fig. 7: first-layer kernel smoothness of every natural / adversarial pair (`--only kernels`).
* Table 2 in the paper's setting (no BatchNorm): FGSM, PGD, minimal eps, AutoAttack (`--only
  table2-paper`); the zoo's BatchNorm models beside it (`--table2-only`, `--only table2-bn`).
* Beyond the paper: a Fourier heat map, PGD perturbation spectra, the CIFAR-10-C corruptions with
  Yin et al.'s trade-off, and L2 AutoAttack, all on ResNet-20 (`--heatmap-only`, `--spectra-only`,
  `--corruptions-only`, `--l2-only`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from hfc_robust.analysis.heatmap import heatmap_run, heatmap_summary
from hfc_robust.paper import corruptions as corruption_paper
from hfc_robust.paper import verdicts as paper
from hfc_robust.paper.spectrum import spectrum_run
from hfc_robust.paper.verdicts import eps_text, pct
from hfc_robust.results.io import atomic_write_bytes, atomic_write_text
from hfc_robust.results.plots import png_bytes
from hfc_robust.runs.run import RunOptions, run_spec
from hfc_robust.spec import BenchSpec, CorruptionSpec

SHARED = Path(os.environ.get("HFC_ROBUST_SHARED", ROOT.parent / "shared"))
CIFAR_TEST = SHARED / "data" / "cifar10" / "cifar10_test_first1000.npz"
RESNETS = SHARED / "models" / "cifar10-resnet"
OUT = ROOT / "results" / "paper"
COMMAND = "python scripts/reproduce_paper.py"
FMNIST_SAMPLE = "first {n:,} Fashion-MNIST test images (indices 0..{last})"
CIFAR_SAMPLE = "first {n:,} CIFAR-10 test images (indices 0..{last})"


def sample(template: str, n: int) -> str:
    return template.format(n=n, last=n - 1)


def run_spectrum(n: int, have_cifar: bool, reuse: bool = False) -> tuple[dict, list]:
    cifar = f"npz:{CIFAR_TEST}"
    r20, r32 = RESNETS / "resnet20-12fca82f.th", RESNETS / "resnet32-d509ac18.th"
    # (label, folder, dataset, model, weights, options, sample, note)
    jobs = [("fmnist-cnn", "fmnist-cnn", "fmnist", "fmnist-cnn", None, {}, sample(FMNIST_SAMPLE, n), "")]
    if have_cifar:
        jobs += [
            ("resnet20", "resnet20", cifar, "resnet20", r20, {}, sample(CIFAR_SAMPLE, n), ""),
            ("resnet32", "resnet32", cifar, "resnet32", r32, {}, sample(CIFAR_SAMPLE, n), ""),
            (
                "resnet20, mask < r",
                "resnet20-lt",
                cifar,
                "resnet20",
                r20,
                {"inclusive": False},
                sample(CIFAR_SAMPLE, n),
                " (official code's < r mask)",
            ),
            (
                "resnet20, rescaled inputs",
                "resnet20-rescale",
                cifar,
                "resnet20",
                r20,
                {"rescale": "max"},
                sample(CIFAR_SAMPLE, n),
                " (x_l, x_h divided by their per-image maximum, official code)",
            ),
        ]
    results, verdicts = {}, []
    for label, folder_name, dataset, model, weights, options, text, note in jobs:
        folder = OUT / "spectrum" / folder_name
        command = (
            [
                "hfc-robust",
                "spectrum",
                "--dataset",
                dataset.replace(str(SHARED), "../shared"),
                "--model",
                model,
                "--n",
                str(n),
            ]
            + (["--weights", str(weights).replace(str(SHARED), "../shared")] if weights else [])
            + (["--mask", "lt"] if options.get("inclusive") is False else [])
            + (["--rescale"] if options.get("rescale") else [])
            + ["--out", str(folder.relative_to(ROOT))]
        )
        config = dict(
            dataset=dataset,
            model=model,
            weights=str(weights) if weights else None,
            n=n,
            radii=[4.0, 8.0, 12.0, 16.0],
            inclusive=options.get("inclusive", True),
            rescale=options.get("rescale", False),
        )
        if reuse and _same_run(folder / "run.json", config, model, weights):
            print(f"[spectrum] reusing {folder.relative_to(ROOT)}", flush=True)
            table, flips = pd.read_csv(folder / "spectrum.csv"), pd.read_csv(folder / "flips.csv")
            classes = 10
        else:
            print(f"[spectrum] {label}: {' '.join(command)}", flush=True)
            result, _ = spectrum_run(
                dataset, model, str(weights) if weights else None, n=n, out=folder, command=command, **options
            )
            table, flips, classes = result.table, result.flips, result.dataset.num_classes
        results[label] = (table, flips, f"{model}, {text}")
        verdicts.append(paper.spectrum_verdict(f"{model}, {text}{note}", table, flips, classes))
    atomic_write_text(
        OUT / "spectrum.md",
        "# Predictions on x, x_l and x_h (paper Sec. 3)\n\n"
        + "Accuracy with Wilson 95% CI and correct/n; x_l, x_h classified unrescaled and mask <= r unless "
        "the label says otherwise. Per-model folders under spectrum/ hold the full tables, per-example "
        "predictions, provenance and figures.\n\n" + paper.spectrum_summary_markdown(results),
    )
    fig = paper.spectrum_summary_figure(results)
    atomic_write_bytes(OUT / "spectrum.png", png_bytes(fig))
    plt.close(fig)
    return results, verdicts


KEEP_EXAMPLES = False
#: ``--only report``: a section whose stored run no longer matches this code's configuration is
#: copied from the current REPRODUCTION.md instead of being computed again
STORED_ONLY = False


def _stored_section(title: str) -> list[str]:
    path = OUT / "REPRODUCTION.md"
    lines = path.read_text().split("\n") if path.is_file() else []
    if title not in lines:
        return [title, "", "(not run yet)", ""]
    start = lines.index(title)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    print(
        f"[report] {title[3:]}: its stored run does not match this code's configuration; section kept as it was",
        flush=True,
    )
    return lines[start:end]


def _drop_examples(folder: Path) -> None:
    """Per-example outcomes are ~0.8 MB per run; results/paper keeps them only with --keep-examples."""
    if not KEEP_EXAMPLES and (folder / "examples.csv.gz").is_file():
        (folder / "examples.csv.gz").unlink()


def resnet20_command(tool: str, n: object, weights: Path) -> list[str]:
    """``hfc-robust TOOL`` on ResNet-20 and the first ``n`` CIFAR-10 test images, as REPRODUCTION.md prints it
    (paths under ../shared written relative)."""
    return [
        "hfc-robust",
        tool,
        "--dataset",
        f"npz:{CIFAR_TEST}".replace(str(SHARED), "../shared"),
        "--model",
        "resnet20",
        "--weights",
        str(weights).replace(str(SHARED), "../shared"),
        "--n",
        str(n),
    ]


def _same_run(run_json: Path, config: dict, model: str, weights: Path | str | None = None) -> bool:
    """A stored run with the same configuration (the keys of ``config``) made with the same
    weights file (SHA-256): the packaged one, or ``weights``."""
    from hfc_robust.models.zoo import MODELS, WEIGHTS_DIR, file_sha256

    if not run_json.is_file():
        return False
    run = json.loads(run_json.read_text())
    path = Path(weights) if weights else (WEIGHTS_DIR / MODELS[model].packaged if MODELS[model].packaged else None)
    sha = file_sha256(path) if path is not None and path.is_file() else None
    from hfc_robust.runs.paths import portable_dataset, portable_path

    stored = json.loads(json.dumps(run.get("config", {})))
    # Runs record paths relative to their folder (older ones as they were given): accept either.
    portable = dict(config)
    if isinstance(portable.get("dataset"), str):
        portable["dataset"] = portable_dataset(portable["dataset"], run_json.parent)
    if portable.get("weights"):
        portable["weights"] = portable_path(portable["weights"], run_json.parent)
    same_config = any(
        all(stored.get(key) == value for key, value in json.loads(json.dumps(candidate)).items())
        for candidate in (config, portable)
    )
    return same_config and sha is not None and run.get("model", {}).get("sha256") == sha


def _bench(model: str, dataset: str, normalize: bool, n: int, reuse: bool) -> pd.DataFrame:
    folder = OUT / "table2" / f"{model}-{'norm' if normalize else 'unnorm'}"
    config = BenchSpec(
        dataset=dataset,
        model=model,
        n=n,
        attacks=("fgsm", "pgd"),
        eps=paper.TABLE2_EPS,
        rhos=paper.TABLE2_RHOS,
        smooth_normalize=normalize,
        seed=0,
    )
    if reuse and (folder / "results.csv").is_file() and _same_run(folder / "run.json", config.to_dict(), model):
        print(f"[table2] reusing {folder.relative_to(ROOT)}", flush=True)
        _drop_examples(folder)
        return pd.read_csv(folder / "results.csv")
    started = time.time()
    command = (
        [
            "hfc-robust",
            "bench",
            "--dataset",
            dataset.replace(str(SHARED), "../shared"),
            "--model",
            model,
            "--n",
            str(n),
            "--attack",
            "fgsm,pgd",
            "--eps",
            "0,1/255,2/255,4/255,8/255,16/255,0.09",
            "--rho",
            "0.1,0.25,0.5,1.0",
        ]
        + (["--smooth-normalize"] if normalize else [])
        + ["--out", str(folder.relative_to(ROOT))]
    )
    print(f"[table2] {' '.join(command)}", flush=True)
    table = run_spec(
        config, RunOptions(out=folder, command=command, overwrite=True)
    ).table  # regenerating replaces the stored run
    _drop_examples(folder)
    print(f"[table2] {model} {'normalised' if normalize else 'unnormalised'}: {time.time() - started:.0f}s", flush=True)
    return table


def run_table2(n: int, have_cifar: bool, reuse: bool, only_models: list[str] | None = None) -> tuple[dict, list]:
    groups = {"fmnist": [("fmnist-cnn", "fmnist"), ("fmnist-cnn-at", "fmnist")]}
    if have_cifar:
        groups["cifar10"] = [("cifar10-small", f"npz:{CIFAR_TEST}"), ("cifar10-small-at", f"npz:{CIFAR_TEST}")]
    if only_models:  # compute just these bench runs (e.g. while other models still train); no tables written
        for models in groups.values():
            for model, dataset in models:
                if model in only_models:
                    for normalize in (False, True):
                        _bench(model, dataset, normalize, n, reuse)
        return {}, []
    tables: dict[str, dict[str, pd.DataFrame]] = {}
    verdicts = []
    for group, models in groups.items():
        runs, checks = {}, {}
        for model, dataset in models:
            for normalize in (False, True):
                variant = "normalised" if normalize else "unnormalised (paper)"
                table = _bench(model, dataset, normalize, n, reuse)
                label = f"{model}, {variant} smoothing"
                runs[label] = table
                checks_path = OUT / "table2" / f"{model}-{'norm' if normalize else 'unnorm'}" / "checks.json"
                checks[label] = json.loads(checks_path.read_text()) if checks_path.is_file() else []
                text = sample(FMNIST_SAMPLE if group == "fmnist" else CIFAR_SAMPLE, n)
                verdicts.append(
                    paper.smoothing_verdicts(
                        f"{model} ({'adv. trained' if model.endswith('-at') else 'natural'}), "
                        f"{variant} smoothing, {text}",
                        table,
                    )
                )
        natural = runs[f"{models[0][0]}, unnormalised (paper) smoothing"]
        robust = runs[f"{models[1][0]}, unnormalised (paper) smoothing"]
        text = sample(FMNIST_SAMPLE if group == "fmnist" else CIFAR_SAMPLE, n)
        verdicts.append(paper.at_verdict(f"{models[0][0]} vs {models[1][0]}, {text}", natural, robust))
        tables[group] = runs
        title = "Fashion-MNIST" if group == "fmnist" else "CIFAR-10"
        atomic_write_text(
            OUT / f"table2_{group}.md",
            f"# Kernel smoothing vs adversarial training, {title} "
            f"(paper Table 2 analogue)\n\n" + paper.table2_markdown(runs, text, checks),
        )
        fig = paper.table2_figure(runs, f"{title}: PGD accuracy vs eps, adaptive attack ({text})")
        atomic_write_bytes(OUT / f"table2_{group}.png", png_bytes(fig))
        plt.close(fig)
    return tables, verdicts


HEATMAP_N, HEATMAP_RADIUS, HEATMAP_NORM = 200, 8.0, 4.0


def _points(a: float, b: float) -> str:
    """How ``a`` compares with ``b`` (fractions), in words and percentage points."""
    gap = 100 * (a - b)
    return "the same as" if abs(gap) < 0.05 else f"{abs(gap):.1f} points {'above' if gap > 0 else 'below'}"


def run_heatmap(have_cifar: bool, reuse: bool) -> list[str]:
    """The Fourier heat map of ResNet-20, bare and at r = 8; returns its REPRODUCTION.md section,
    every number in it computed from the stored heatmap.csv and run.json."""
    title = "## 4. Beyond the paper: Fourier heat map of ResNet-20 (Yin et al. 2019)"
    if not have_cifar:
        return [title, "", f"(not run: {SHARED} not found)", ""]
    folder = OUT / "heatmap_resnet20"
    weights = RESNETS / "resnet20-12fca82f.th"
    config = dict(
        dataset=f"npz:{CIFAR_TEST}",
        model="resnet20",
        weights=str(weights),
        n=HEATMAP_N,
        eps_f=HEATMAP_NORM,
        radii=[HEATMAP_RADIUS],
        rhos=[],
        smooth_normalize=False,
        inclusive=True,
        seed=0,
    )
    command = [
        *resnet20_command("heatmap", str(HEATMAP_N), weights),
        "--radius",
        f"{HEATMAP_RADIUS:g}",
        "--out",
        str(folder.relative_to(ROOT)),
    ]
    # runs written before the option was named --eps-f (81418e8) store the same value as "norm"
    legacy = {**{key: value for key, value in config.items() if key != "eps_f"}, "norm": HEATMAP_NORM}
    same = any(_same_run(folder / "run.json", candidate, "resnet20", weights) for candidate in (config, legacy))
    if reuse and (folder / "heatmap.csv").is_file() and same:
        print(f"[heatmap] reusing {folder.relative_to(ROOT)}", flush=True)
    else:
        if STORED_ONLY:
            return _stored_section(title)
        print(f"[heatmap] {' '.join(command)}", flush=True)
        heatmap_run(
            config["dataset"],
            "resnet20",
            str(weights),
            n=HEATMAP_N,
            eps_f=HEATMAP_NORM,
            radii=[HEATMAP_RADIUS],
            seed=0,
            out=folder,
            command=command,
        )
    run = json.loads((folder / "run.json").read_text())
    table = pd.read_csv(folder / "heatmap.csv")
    summary = heatmap_summary(table, run["clean_error"], HEATMAP_RADIUS).set_index("defense")
    bare, low = summary.loc["none"], summary.loc[f"lowpass-r{HEATMAP_RADIUS:g}"]
    r = f"{HEATMAP_RADIUS:g}"
    rings = _ring_errors(table, HEATMAP_RINGS)

    def pct(value: float) -> str:
        return f"{100 * value:.1f}%"

    bare_rings = rings["none"]
    rising = all(a < b for a, b in zip(bare_rings, bare_rings[1:]))
    flat = abs(low.beyond_mean - low.clean_error) < 0.02 and low.beyond_std < 0.25 * bare.beyond_std
    paragraph = [
        f"Every one of the first {HEATMAP_N} CIFAR-10 test images is perturbed by the unit-norm Fourier basis image "
        f"U_ij of one frequency, scaled to eps_F = {HEATMAP_NORM:g} (L2 per channel, [0, 1] scale), with a random "
        "sign, "
        f"and clipped to [0, 1]; the map is the error rate at each of the 32 x 32 frequencies (table: mean error per "
        f"ring of distance from the centre, in frequency bins).",
        f"**Bare ResNet-20** (clean error {pct(bare.clean_error)}): mean error {pct(bare.within_mean)} within "
        f"r = {r} of the centre and {pct(bare.beyond_mean)} beyond it; highest {pct(bare.max_error)} at (i, j) = "
        f"({int(bare.max_i)}, {int(bare.max_j)}). "
        + (
            "The ring means rise from each ring to the next outward: on this sample the model is more sensitive to "
            "perturbations of the same L2 norm the higher their frequency."
            if rising
            else "The ring means do not rise steadily outward."
        ),
        f"**LowPass r = {r}** (clean error {pct(low.clean_error)}, {_points(low.clean_error, bare.clean_error)} the "
        "bare "
        f"model's): beyond the radius its mean error is {pct(low.beyond_mean)}, "
        f"{_points(low.beyond_mean, low.clean_error)} "
        f"its clean error, with a standard deviation of {100 * low.beyond_std:.1f} points across those frequencies "
        f"against {100 * bare.beyond_std:.1f} for the bare model"
        + (
            ": there the map is flat at the clean error, as it should be for a filter that removes those frequencies."
            if flat
            else "."
        )
        + f" Within the radius its mean error is {pct(low.within_mean)} ({_points(low.within_mean, low.clean_error)} "
        f"its clean error; highest {pct(low.max_error)} at ({int(low.max_i)}, {int(low.max_j)}))"
        + (
            ": the frequencies the filter keeps still raise its error."
            if low.within_mean - low.clean_error > 0.02
            else "."
        ),
        f"One seed and n = {HEATMAP_N}: a single frequency's error has a binomial standard error of up to "
        f"{100 * (0.25 / HEATMAP_N) ** 0.5:.1f} points; ring means average many frequencies but the same images.",
    ]
    labels = [f"{lo:g}-{hi:g}" if lo != hi else f"{lo:g} (DC)" for lo, hi in HEATMAP_RINGS]
    ring_table = ["| defense | clean | " + " | ".join(labels) + " |", "|---|---:|" + "---:|" * len(labels)]
    for key in rings:
        ring_table.append(
            f"| {key} | {pct(run['clean_error'][key])} | " + " | ".join(pct(v) for v in rings[key]) + " |"
        )
    return [
        title,
        "",
        f"`{' '.join(command)}` (folder `heatmap_resnet20/`: `heatmap.csv`, `heatmap.png`, `run.json`).",
        "",
        " ".join(paragraph),
        "",
        *ring_table,
        "",
        "![heatmap resnet20](heatmap_resnet20/heatmap.png)",
        "",
    ]


SPECTRA_N, SPECTRA_RADIUS, SPECTRA_EPS = 500, 8.0, 8 / 255
SPECTRA_TITLE = "## 5. Beyond the paper: perturbation spectra of PGD against ResNet-20"


def run_perturbation_spectra(have_cifar: bool, reuse: bool) -> list[str]:
    """PGD at 8/255 against ResNet-20, bare and at r = 8; returns the REPRODUCTION.md section, every
    number computed from the stored results.csv and perturbation_spectra.npz."""
    import numpy as np

    from hfc_robust.ops.frequency import frequency_mask

    if not have_cifar:
        return [SPECTRA_TITLE, "", f"(not run: {SHARED} not found)", ""]
    folder = OUT / "perturbation_spectra_resnet20"
    weights = RESNETS / "resnet20-12fca82f.th"
    config = BenchSpec(
        dataset=f"npz:{CIFAR_TEST}",
        model="resnet20",
        weights=str(weights),
        n=SPECTRA_N,
        attacks=("pgd",),
        eps=(SPECTRA_EPS,),
        radii=(SPECTRA_RADIUS,),
        spot_check=0,
        seed=0,
    )
    command = [
        *resnet20_command("bench", str(SPECTRA_N), weights),
        "--attack",
        "pgd",
        "--eps",
        "8/255",
        "--radius",
        f"{SPECTRA_RADIUS:g}",
        "--no-spot-check",
        "--out",
        str(folder.relative_to(ROOT)),
    ]
    if (
        reuse
        and (folder / "perturbation_spectra.npz").is_file()
        and _same_run(
            folder / "run.json",
            {"n": SPECTRA_N, "radii": [SPECTRA_RADIUS], "eps": [SPECTRA_EPS], "seed": 0},
            "resnet20",
            weights,
        )
    ):
        print(f"[spectra] reusing {folder.relative_to(ROOT)}", flush=True)
    else:
        if STORED_ONLY:
            return _stored_section(SPECTRA_TITLE)
        print(f"[spectra] {' '.join(command)}", flush=True)
        run_spec(config, RunOptions(out=folder, command=command, overwrite=True))
        _drop_examples(folder)
    table = pd.read_csv(folder / "results.csv").set_index(["defense", "threat_model"])
    with np.load(folder / "perturbation_spectra.npz", allow_pickle=False) as archive:
        npz = {name: archive[name] for name in archive.files}
    mask = frequency_mask(32, 32, SPECTRA_RADIUS).numpy().astype(bool)
    cells = {str(threat): k for k, threat in enumerate(npz["threat"])}
    share = {t: float(npz["spectrum"][k][mask].sum() / npz["spectrum"][k].sum()) for t, k in cells.items()}
    power = {t: float(npz["spectrum"][k].sum()) for t, k in cells.items()}
    ratio = {t: float(npz["spectrum"][k][mask].mean() / npz["spectrum"][k][~mask].mean()) for t, k in cells.items()}
    acc = {t: float(table.loc[("none" if t == "whitebox" else "lowpass", t), "accuracy"]) for t in cells}
    inband = {t: float(npz["inband_l2"][k]) for t, k in cells.items() if t != "whitebox"}
    count = {t: int(npz["count"][k]) for t, k in cells.items()}
    kept = int(mask.sum())
    r = f"{SPECTRA_RADIUS:g}"

    def pct(value: float) -> str:
        return f"{100 * value:.1f}%"

    lines = [
        f"PGD (10 steps, step 2/255, one random start) at eps = 8/255 on the first {SPECTRA_N} CIFAR-10 test images; "
        f"spectra are averaged over each row's attacked examples (those classified correctly clean: "
        f"{count['whitebox']} for the bare model, {count['adaptive']} through the filter, {count['oblivious']} for the "
        f"transfer row, which needs both). The disc of radius {r} holds {kept} of the 1,024 frequencies "
        f"({pct(kept / 1024)}).",
        f"**Share of the perturbation's energy inside r = {r}**: white-box on the bare model {pct(share['whitebox'])}, "
        f"oblivious (the same attack transferred) {pct(share['oblivious'])}, adaptive (through the filter) "
        f"{pct(share['adaptive'])}. "
        + (
            "The adaptive attack puts more of its energy where the filter lets it through than the bare-model "
            f"attack does, but most of it ({pct(1 - share['adaptive'])}) still lies outside the radius, where the "
            "filter removes it."
            if share["adaptive"] > share["whitebox"] and share["adaptive"] < 0.5
            else "The adaptive share is not above the bare-model attack's on this sample."
            if share["adaptive"] <= share["whitebox"]
            else "The adaptive attack puts most of its energy inside the radius."
        )
        + f" Mean power per frequency inside the radius over that outside it: white-box {ratio['whitebox']:.2f}, "
        f"oblivious {ratio['oblivious']:.2f}, adaptive {ratio['adaptive']:.2f}"
        + (" (the white-box spectrum is close to flat)." if abs(ratio["whitebox"] - 1) < 0.15 else "."),
        f"**What reaches the model** (mean L2 norm of the in-band part, [0, 1] scale): adaptive "
        f"{inband['adaptive']:.3f}, oblivious {inband['oblivious']:.3f}; total spectral power (mean over examples, "
        f"channel mean, sum over frequencies) adaptive {power['adaptive']:.0f} vs white-box {power['whitebox']:.0f}. "
        "These norms are not like for like: white-box and adaptive rows score each example's first successful "
        "iterate (early stop), the oblivious row the last iterate of the whole budget, on fewer examples.",
        f"Robust accuracy on this sample: white-box {pct(acc['whitebox'])}, oblivious {pct(acc['oblivious'])}, "
        "adaptive "
        f"{pct(acc['adaptive'])}. One seed, one sample; the shares are energy-weighted over the attacked examples.",
    ]
    return [
        SPECTRA_TITLE,
        "",
        f"`{' '.join(command)}` (folder `perturbation_spectra_resnet20/`: `results.csv`, "
        "`perturbation_spectra.npz`, `perturbation_spectra.png`, `run.json`).",
        "",
        " ".join(lines),
        "",
        "![perturbation spectra resnet20](perturbation_spectra_resnet20/perturbation_spectra.png)",
        "",
    ]


CORRUPTIONS_RADII = [4.0, 8.0, 12.0, 16.0]
CORRUPTIONS_TITLE = "## 6. Beyond the paper: common corruptions and Yin et al.'s trade-off"
CORRUPTIONS_COUNTS = "per_image_counts.csv.gz"


def run_corruptions(n: int, have_cifar: bool, reuse: bool) -> tuple[list[str], list]:
    """ResNet-20 under the 15 CIFAR-10-C corruptions, bare and at r = 4, 8, 12, 16; returns the
    REPRODUCTION.md section and its verdict, every number computed from the stored files."""
    from hfc_robust.results.io import atomic_writer

    if not have_cifar:
        return [CORRUPTIONS_TITLE, "", f"(not run: {SHARED} not found)", ""], []
    folder = OUT / "corruptions_resnet20"
    weights = RESNETS / "resnet20-12fca82f.th"
    config = CorruptionSpec(
        dataset=f"npz:{CIFAR_TEST}", model="resnet20", weights=str(weights), n=n, radii=tuple(CORRUPTIONS_RADII), seed=0
    )
    command = [
        *resnet20_command("corruptions", str(n), weights),
        "--radius",
        ",".join(f"{r:g}" for r in CORRUPTIONS_RADII),
        "--out",
        str(folder.relative_to(ROOT)),
    ]
    stored = {
        "n": n,
        "radii": CORRUPTIONS_RADII,
        "seed": 0,
        "corruptions": list(config.corruptions),
        "severities": list(config.severities),
    }
    from hfc_robust.corruptions import CORRUPTIONS_VERSION

    # A run made by an older corruption code has other pixels: never reuse it.
    current = (folder / "run.json").is_file() and json.loads((folder / "run.json").read_text()).get(
        "corruptions", {}
    ).get("version") == CORRUPTIONS_VERSION
    if (
        reuse
        and current
        and (folder / CORRUPTIONS_COUNTS).is_file()
        and _same_run(folder / "run.json", stored, "resnet20", weights)
    ):
        print(f"[corruptions] reusing {folder.relative_to(ROOT)}", flush=True)
    else:
        if STORED_ONLY:
            return _stored_section(CORRUPTIONS_TITLE), []
        started = time.time()
        print(f"[corruptions] {' '.join(command)}", flush=True)
        run_spec(
            config,
            RunOptions(
                out=folder,
                command=command,
                overwrite=True,
                deterministic=False,
                notify=lambda text: print(f"[corruptions] {text}", flush=True),
            ),
        )
        counts = corruption_paper.per_image_counts(pd.read_csv(folder / "examples.csv.gz"))
        with atomic_writer(folder / CORRUPTIONS_COUNTS) as raw:  # gzip without a time stamp: byte-identical reruns
            import gzip

            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as handle:
                handle.write(counts.to_csv(index=False, lineterminator="\n").encode())
        for name in ("examples.csv.gz", "corruption_spectra.npz"):  # ~20 MB and ~0.6 MB: the counts and the CSV suffice
            if not KEEP_EXAMPLES and (folder / name).is_file():
                (folder / name).unlink()
        print(f"[corruptions] {time.time() - started:.0f}s", flush=True)
    counts = pd.read_csv(folder / CORRUPTIONS_COUNTS)
    summary = pd.read_csv(folder / "summary.csv")
    spectra = pd.read_csv(folder / "corruption_spectra.csv")
    label = f"resnet20, {sample(CIFAR_SAMPLE, n)}"
    verdict, per = corruption_paper.tradeoff_verdict(label, counts, CORRUPTIONS_RADII)
    section = corruption_paper.corruption_section(
        CORRUPTIONS_TITLE,
        " ".join(command),
        folder.name,
        label,
        summary,
        spectra,
        verdict,
        per,
        CORRUPTIONS_RADII,
        counts,
    )
    return section, [verdict]


L2_TITLE = "## 7. Beyond the paper: the L2 threat model (AutoAttack)"
L2_EPS = (0.25, 0.5)
L2_RADIUS = 8.0
#: images of the L2 section: AutoAttack runs every survivor through all four stages, so this section
#: uses the first 200 to stay within minutes on one CPU thread (the table gives Wilson intervals)
L2_N = 200


def run_l2(n: int, have_cifar: bool, reuse: bool) -> list[str]:
    """ResNet-20 under AutoAttack's standard L2 ensemble at eps 0.25 and 0.5, bare and with LowPass
    r = 8; returns the REPRODUCTION.md section, every number computed from the stored results.csv."""
    from hfc_robust.results.stats import wilson_interval

    if not have_cifar:
        return [L2_TITLE, "", f"(not run: {SHARED} not found)", ""]
    folder = OUT / "l2_autoattack_resnet20"
    weights = RESNETS / "resnet20-12fca82f.th"
    config = BenchSpec(
        dataset=f"npz:{CIFAR_TEST}",
        model="resnet20",
        weights=str(weights),
        n=n,
        norm="l2",
        attacks=("autoattack",),
        eps=L2_EPS,
        radii=(L2_RADIUS,),
        seed=0,
    )
    command = [
        *resnet20_command("bench", str(n), weights),
        "--norm",
        "l2",
        "--attack",
        "autoattack",
        "--eps",
        ",".join(f"{e:g}" for e in L2_EPS),
        "--radius",
        f"{L2_RADIUS:g}",
        "--device",
        "cpu",
        "--out",
        str(folder.relative_to(ROOT)),
    ]
    if (
        reuse
        and (folder / "results.csv").is_file()
        and _same_run(
            folder / "run.json",
            {"n": n, "norm": "l2", "attacks": ["autoattack"], "eps": list(L2_EPS), "radii": [L2_RADIUS], "seed": 0},
            "resnet20",
            weights,
        )
    ):
        print(f"[l2] reusing {folder.relative_to(ROOT)}", flush=True)
    else:
        if STORED_ONLY:
            return _stored_section(L2_TITLE)
        print(f"[l2] {' '.join(command)}", flush=True)
        started = time.time()
        run_spec(config, RunOptions(out=folder, command=command, overwrite=True, device="cpu"))
        _drop_examples(folder)
        print(f"[l2] {time.time() - started:.0f}s", flush=True)
    table = pd.read_csv(folder / "results.csv")

    def row(defense: str, threat: str, eps: float, attack: str = "autoattack") -> pd.Series:
        mine = table[(table["defense"] == defense) & (table["threat_model"] == threat) & (table["attack"] == attack)]
        if threat != "clean":
            mine = mine[(mine["eps"] - eps).abs() < 1e-9]
        return mine.iloc[0]

    def cite(r: pd.Series) -> str:
        low, high = wilson_interval(int(r["correct"]), int(r["n"]))
        return f"{100 * r['accuracy']:.1f}% [{100 * low:.1f}, {100 * high:.1f}] ({int(r['correct'])}/{int(r['n'])})"

    clean_bare, clean_low = row("none", "clean", 0, "none"), row("lowpass", "clean", 0, "none")
    lines = [
        f"ResNet-20 on the {sample(CIFAR_SAMPLE, n)}, AutoAttack's standard L2 ensemble (APGD-CE, APGD-T, FAB-T, "
        f"Square; eps is the L2 radius on the [0, 1] pixel scale of the 3x32x32 image), bare (white-box) and "
        f"with the input low-pass filter at r = {L2_RADIUS:g} (oblivious: the bare model's attack transferred; "
        f"adaptive: AutoAttack through the filter). Clean accuracy: bare {cite(clean_bare)}, r = {L2_RADIUS:g} "
        f"{cite(clean_low)}.",
        "",
        "| eps (L2) | bare, white-box | r = 8, oblivious | r = 8, adaptive (the number to cite) |",
        "|---|---|---|---|",
    ]
    for eps in L2_EPS:
        lines.append(
            f"| {eps:g} | {cite(row('none', 'whitebox', eps))} | {cite(row('lowpass', 'oblivious', eps))} | "
            f"{cite(row('lowpass', 'adaptive', eps))} |"
        )
    adaptive = {eps: row("lowpass", "adaptive", eps) for eps in L2_EPS}
    oblivious = {eps: row("lowpass", "oblivious", eps) for eps in L2_EPS}
    top = max(L2_EPS)
    lines += [
        "",
        (
            f"Against the transferred attack the filter keeps {100 * oblivious[top]['accuracy']:.1f}% at eps = "
            f"{top:g}, but attacked through the filter it keeps {100 * adaptive[top]['accuracy']:.1f}%: "
            + (
                "the L2 robustness the filter seems to give is the oblivious number's, not a property an "
                "adaptive attacker has to respect."
                if adaptive[top]["accuracy"] < 0.5 * oblivious[top]["accuracy"]
                else "most of the oblivious robustness survives the adaptive attack."
            )
        ),
        "",
        f"`{' '.join(command)}` (folder `{folder.name}/`: `results.csv`, `results.md`, `checks.json`, "
        "`run.json`, `perturbation_spectra.png`).",
        "",
    ]
    return [L2_TITLE, ""] + lines


def _splice_section(text: str, title: str, section: list[str]) -> str:
    """REPRODUCTION.md with ``title``'s section replaced by ``section`` (inserted before ## Models when absent)."""
    lines = text.split("\n")
    body = section[:-1] if section and section[-1] == "" else section
    if title in lines:
        start = lines.index(title)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    else:
        start = end = lines.index("## Models")
    return "\n".join(lines[:start] + body + [""] + lines[end:])


#: rings of distance sqrt(i^2 + j^2) from the centre, in frequency bins (lower bound exclusive but for DC)
HEATMAP_RINGS = [(0, 0), (0, 2), (2, 4), (4, 8), (8, 12), (12, 16), (16, 23)]


def _ring_errors(table: pd.DataFrame, rings: list[tuple[float, float]]) -> dict[str, list[float]]:
    """Mean heat-map error per defense and ring of distance from the centre (frequency bins)."""
    distance = (table["i"] ** 2 + table["j"] ** 2) ** 0.5
    out = {}
    for key in dict.fromkeys(table["defense"]):
        mine = table["defense"] == key
        out[key] = [
            float(
                table.loc[mine & ((distance == 0) if hi == 0 else (distance > lo) & (distance <= hi)), "error"].mean()
            )
            for lo, hi in rings
        ]
    return out


def trained_model_lines() -> list[str]:
    import torch

    from hfc_robust.models.zoo import MODELS, WEIGHTS_DIR

    lines = []
    for name in ("fmnist-cnn-at", "cifar10-small", "cifar10-small-at", "cifar10-nobn", "cifar10-nobn-at"):
        path = WEIGHTS_DIR / MODELS[name].packaged
        if not path.is_file():
            continue
        meta = torch.load(path, weights_only=True)
        config = meta["config"]
        if "epochs" in meta:  # Table 2's models in the paper's setting (issue 26): early-stopped
            config = {**config, "epochs": f"{meta['best_epoch']} (best of {meta['epochs']}, early stopping)"}
        how = (
            "natural training"
            if config["adversarial"] == "none"
            else f"{config['adversarial'].upper()} adversarial training at eps = {eps_text(config['eps'])}, "
            f"step {eps_text(config['alpha'])}"
        )
        correct = round(meta["test_accuracy"] * meta["test_n"])
        lines.append(
            f"  * `{name}`: {how}, {config['epochs']} epochs, {meta['train_n']:,} training images "
            f"({meta['train_indices']}); clean accuracy {pct(correct, meta['test_n'])} on "
            f"{str(meta['test_source']).replace(str(SHARED), '../shared')}; {meta['wall_time_s']:.0f} s of training "
            f"on {meta['threads']} CPU thread(s)."
        )
    return lines


CIFAR_TRAIN = SHARED / "data" / "cifar10" / "cifar10_train.npz"


def _log(text: str) -> None:
    print(text, flush=True)


from hfc_robust.paper.experiments.steps import STEPS

#: the experiments that train models (``--retrain`` runs them; finished records are kept)
TRAINING_STEPS = ("fig3", "heuristics", "table1")
#: ``--only NAME``: one experiment, resumable (issue 26); ``report`` only rewrites REPRODUCTION.md
ONLY = {name: (lambda name=name: STEPS[name][0](OUT, SHARED, _log)) for name in STEPS}
ONLY["report"] = lambda: write_report(reuse=True, stored_only=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="train the zoo's paper models and run the training experiments (Fig. 3, Figs. 4-6, Table 1) "
        "first; their finished records are kept (delete results/paper/<experiment>/ to rerun)",
    )
    parser.add_argument("--n", type=int, default=1000, help="test images per experiment (default 1000)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep spectrum and Table 2 runs already in results/paper/ (same configuration and weights)",
    )
    parser.add_argument(
        "--keep-examples",
        action="store_true",
        help="keep each Table 2 run's examples.csv.gz (per-example outcomes, ~0.8 MB each)",
    )
    parser.add_argument("--spectrum-only", action="store_true", help="only compute the spectrum runs")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--table2-only", default="", help="comma list of models: only compute their Table 2 runs")
    parser.add_argument("--heatmap-only", action="store_true", help="only compute the ResNet-20 Fourier heat map")
    parser.add_argument(
        "--spectra-only",
        action="store_true",
        help="only compute the ResNet-20 perturbation spectra and update their REPRODUCTION.md section",
    )
    parser.add_argument(
        "--l2-only",
        action="store_true",
        help="only compute ResNet-20 under L2 AutoAttack (eps 0.25, 0.5; bare and r = 8) and update its "
        "REPRODUCTION.md section",
    )
    parser.add_argument(
        "--corruptions-only",
        action="store_true",
        help="only compute ResNet-20 under the 15 CIFAR-10-C corruptions (bare, r = 4, 8, 12, 16) and "
        "update its REPRODUCTION.md section",
    )
    parser.add_argument(
        "--only",
        choices=sorted(ONLY),
        default=None,
        help="run one experiment of issue 26 (resumable: finished runs are kept) and stop",
    )
    args = parser.parse_args()
    global KEEP_EXAMPLES
    KEEP_EXAMPLES = args.keep_examples
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.retrain:  # the earlier Table 1 (train_paper_models.py table1) is superseded by --only table1
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "train_paper_models.py"), *ZOO_TARGETS]
            + (["--threads", str(args.threads)] if args.threads else []),
            check=True,
        )
        for name in TRAINING_STEPS:
            STEPS[name][0](OUT, SHARED, _log)
    have_cifar = CIFAR_TEST.is_file() and (RESNETS / "resnet20-12fca82f.th").is_file()
    if not have_cifar:
        print(f"note: {SHARED} not found; CIFAR-10 experiments are skipped", flush=True)
    started = time.time()
    if args.only:
        ONLY[args.only]()
        print(f"[{args.only}] done ({time.time() - started:.0f}s)", flush=True)
        return
    if args.spectrum_only:
        run_spectrum(args.n, have_cifar, args.reuse)
        return
    if args.heatmap_only:
        run_heatmap(have_cifar, args.reuse)
        return
    if args.spectra_only:
        section = run_perturbation_spectra(have_cifar, args.reuse)
        path = OUT / "REPRODUCTION.md"
        atomic_write_text(path, _splice_section(path.read_text(), SPECTRA_TITLE, section))
        print(f"wrote {path}", flush=True)
        return
    if args.l2_only:
        path = OUT / "REPRODUCTION.md"
        atomic_write_text(
            path, _splice_section(path.read_text(), L2_TITLE, run_l2(min(args.n, L2_N), have_cifar, args.reuse))
        )
        print(f"wrote {path}", flush=True)
        return
    if args.corruptions_only:
        section, _ = run_corruptions(args.n, have_cifar, args.reuse)
        path = OUT / "REPRODUCTION.md"
        atomic_write_text(path, _splice_section(path.read_text(), CORRUPTIONS_TITLE, section))
        print(f"wrote {path}", flush=True)
        return
    if args.table2_only:
        run_table2(args.n, have_cifar, args.reuse, args.table2_only.split(","))
        return
    for name in ("svd", "table2-bn", "table2-paper", "kernels"):
        if have_cifar:
            STEPS[name][0](OUT, SHARED, _log)
    write_report(args.reuse, args.n, have_cifar)
    print(f"wrote {OUT / 'REPRODUCTION.md'} ({time.time() - started:.0f}s)", flush=True)


#: model training (scripts/train_paper_models.py), with the experiment each serves
ZOO_TARGETS = {
    "fmnist-cnn-at": "Table 2 (BatchNorm, outside the paper's setting)",
    "cifar10-small": "Table 2 (BatchNorm)",
    "cifar10-small-at": "Table 2 (BatchNorm)",
    "cifar10-nobn": "Table 2 (paper's setting)",
    "cifar10-nobn-at": "Table 2 (paper's setting)",
}


def budget_lines() -> list[str]:
    """The budget table: every experiment's command and measured wall time (one CPU thread each)."""
    import torch

    from hfc_robust.models.zoo import MODELS, WEIGHTS_DIR
    from hfc_robust.paper.verdicts.document import wall_times

    times = wall_times(OUT)
    rows = []
    for name, purpose in ZOO_TARGETS.items():
        path = WEIGHTS_DIR / MODELS[name].packaged
        seconds = float(torch.load(path, weights_only=True).get("wall_time_s", 0.0)) if path.is_file() else 0.0
        times[f"train {name}"] = seconds
        rows.append((f"train {name}", f"`python scripts/train_paper_models.py --threads 1 {name}`", purpose, seconds))
    for name in TRAINING_STEPS + ("svd", "table2-paper", "table2-bn", "kernels"):
        rows.append((name, f"`{COMMAND} --threads 1 --only {name}`", STEPS[name][1], times.get(name, 0.0)))
    for name, flag in (
        ("spectrum", "--spectrum-only"),
        ("heatmap", "--heatmap-only"),
        ("perturbation spectra", "--spectra-only"),
        ("corruptions", "--corruptions-only"),
        ("l2", "--l2-only"),
    ):
        rows.append(
            (
                name,
                f"`{COMMAND} {flag}`",
                "Fig. 2 runs" if name == "spectrum" else "beyond the paper",
                times.get(name, 0.0),
            )
        )
    total = sum(seconds for *_, seconds in rows)
    bands = times.get("bands", 0.0)
    lines = [
        "Wall times as recorded in each run's record (one CPU thread, on a 2-core machine shared with other jobs, "
        "so they are upper bounds). `--retrain` runs every row; two rows can run side by side on 2 cores.",
        "",
        "| experiment | command | what | wall time |",
        "|---|---|---|---:|",
    ]
    lines += [f"| {name} | {command} | {what} | {seconds / 60:.1f} min |" for name, command, what, seconds in rows]
    lines += [f"| **total** | | | **{total / 3600:.2f} h** (budget: 8 h on 2 CPU cores) |"]
    lines += [
        "",
        f"Not in the total: issue 27's band runs (`python scripts/paper_bands.py`, the section above), "
        f"{bands / 60:.1f} min as recorded.",
    ]
    return lines


def bands_section() -> list[str]:
    """Issue 27's section (robustness per frequency band, its verdict on the paper's explanation),
    read from the runs of ``scripts/paper_bands.py`` under ``results/paper/bands_resnet20/``."""
    import paper_bands  # scripts/paper_bands.py, beside this script

    return paper_bands.section().rstrip("\n").split("\n") + [""]


def write_report(reuse: bool, n: int = 1000, have_cifar: bool = True, stored_only: bool = False) -> None:
    """REPRODUCTION.md from the stored runs (the Fig. 2 and BatchNorm Table 2 tables are rewritten
    too; with ``reuse`` nothing stored with the same configuration runs again; with ``stored_only``
    the beyond-the-paper sections whose runs do not match are kept as they are)."""
    global STORED_ONLY
    STORED_ONLY = stored_only
    from hfc_robust import ENGINE_VERSION
    from hfc_robust.paper.verdicts.document import write_reproduction

    run_spectrum(n, have_cifar, reuse)
    run_table2(n, have_cifar, reuse)
    beyond = run_heatmap(have_cifar, reuse) + run_perturbation_spectra(have_cifar, reuse)
    corruption_section, corruption_verdicts = run_corruptions(n, have_cifar, reuse)
    beyond += (
        corruption_section
        + run_l2(min(n, L2_N), have_cifar, reuse)
        + bands_section()
        + [
            "## Models",
            "",
            "* `fmnist-cnn` — packaged reference model (scripts/train_fmnist_cnn.py).",
            "* `fmnist-cnn-at`, `cifar10-small`, `cifar10-small-at`, `cifar10-nobn`, `cifar10-nobn-at` — trained by "
            "`scripts/train_paper_models.py` (seed 0), weights packaged in `hfc_robust/models/weights/`; their "
            "training "
            "configuration and held-out accuracy are stored in each weights file:",
        ]
        + trained_model_lines()
        + [
            "* The models of Figs. 3-6 and Table 1 are trained inside their experiments "
            "(`hfc_robust/paper/experiments/`) "
            "and not kept; their records are.",
            "* ResNet-20/32 — public akamaster checkpoints from ../shared (SHA-256 in each run.json).",
            "",
            f"Generated by `{COMMAND}{' --reuse' if reuse else ''}`.",
            "",
        ]
    )
    write_reproduction(OUT, ROOT, beyond, corruption_verdicts, budget_lines(), COMMAND, ENGINE_VERSION, _log)


if __name__ == "__main__":
    main()
