"""The GPU check of issue 17, ready for the first GPU that comes along (``scripts/gpu_check.sh``).

Prints one Markdown table (and ``--json FILE`` the same figures):

* the CUDA tests (``pytest -m cuda tests/test_devices.py``);
* a paired CPU-vs-GPU comparison on a ResNet-20 grid from ``../shared`` (``hfc-robust bench``
  on each device, PGD-10 at 8/255 through ``LowPass`` r = 8): clean predictions must be equal
  and ``hfc-robust compare --significance 0.05`` must find no attacked row that moved significantly;
* ResNet-20 throughput in images/s on the same GPU, timed in this process and interleaved
  (median of ``--repeats``): the harness's grid (clean, white-box, oblivious and adaptive PGD-10
  through LowPass r = 8) against the plain torchattacks loop of ``benchmarks/bench_harness.py``
  computing the same rows, the harness with and without ``--deterministic``, and the
  ``autoattack`` adapter against the reference AutoAttack (``pyautoattack``, when installed)
  through LowPass r = 8;
* peak GPU memory of the harness and of the plain loop.

Without a GPU every GPU part is skipped with its reason (the CUDA tests still report their
own skips), so the script runs anywhere. ``--device cpu`` runs the same code on the CPU with
small sizes, to check the script itself; its figures are no GPU check.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HFC_ROBUST_SHARED", ROOT.parent / "shared"))
CIFAR = SHARED / "data" / "cifar10" / "cifar10_test_first1000.npz"
RESNET20 = SHARED / "models" / "cifar10-resnet" / "resnet20-12fca82f.th"
EPS, RADIUS = 8 / 255, 8.0

Row = dict  # {"check", "result", "detail", **figures}


def rate_text(images_per_s: float) -> str:
    return f"{images_per_s:,.0f}" if images_per_s >= 100 else f"{images_per_s:.3g}"


def row(check: str, result: str, detail: str = "", **figures) -> Row:
    return {"check": check, "result": result, "detail": detail, **figures}


class Budget:
    """Seconds left of the whole check; a part that would not fit is skipped, saying so."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def gpu_missing(device: str) -> str | None:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        return "skipped: no CUDA GPU (torch.cuda.is_available() is False)"
    return None


def shared_missing() -> str | None:
    if not (CIFAR.is_file() and RESNET20.is_file()):
        return f"skipped: ResNet-20 and CIFAR-10 not found under {SHARED} (set HFC_ROBUST_SHARED)"
    return None


# ---------------------------------------------------------------------------- the CUDA tests


def cuda_tests(budget: Budget) -> list[Row]:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rs",
        "-m",
        "cuda",
        "-p",
        "no:cacheprovider",
        str(ROOT / "tests" / "test_devices.py"),
    ]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=max(budget.left() - 150, 30))
    except subprocess.TimeoutExpired:
        return [row("CUDA tests", "FAIL: timed out", " ".join(command[2:]))]
    summary = (done.stdout.strip().splitlines() or [""])[-1].strip("= ")
    counts = {word: int(number) for number, word in re.findall(r"(\d+) (passed|failed|skipped|error|errors)", summary)}
    reasons = sorted({line.split(": ", 1)[-1] for line in done.stdout.splitlines() if line.startswith("SKIPPED")})
    if counts.get("failed") or counts.get("error") or counts.get("errors") or done.returncode not in (0, 5):
        failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
        return [row("CUDA tests", f"FAIL: {summary}", "; ".join(failed)[:300], **counts)]
    if counts.get("passed"):
        return [row("CUDA tests", "pass", summary, **counts)]
    return [row("CUDA tests", f"skipped: {summary}", "; ".join(reasons)[:200], **counts)]


# ---------------------------------------------------------------------------- CPU vs GPU, paired


def cpu_vs_gpu(device: str, n: int, budget: Budget) -> list[Row]:
    names = ("CPU vs GPU: clean predictions", "CPU vs GPU: attacked rows (compare --significance 0.05)")
    reason = gpu_missing(device) or shared_missing()
    if reason is None and budget.left() < 120:
        reason = "skipped: out of the time budget"
    if reason:
        return [row(name, reason) for name in names]
    import pandas as pd

    from hfc_robust.results.compare import compare_runs, load_side

    grid = [
        "bench",
        "--dataset",
        f"npz:{CIFAR}",
        "--model",
        "resnet20",
        "--weights",
        str(RESNET20),
        "--n",
        str(n),
        "--attack",
        "pgd",
        "--eps",
        "8/255",
        "--radius",
        f"{RADIUS:g}",
        "--no-spot-check",
        "--quiet",
        "--allow-failed-checks",
    ]
    cli = [sys.executable, "-m", "hfc_robust.cli"]
    with tempfile.TemporaryDirectory(prefix="hfc-robust-gpu-check-") as scratch:
        runs = {}
        for side in ("cpu", device):
            out = Path(scratch) / side.replace(":", "-")
            started = time.perf_counter()
            done = subprocess.run(cli + grid + ["--device", side, "--out", str(out)], capture_output=True, text=True)
            if done.returncode != 0:
                return [
                    row(
                        name,
                        f"FAIL: bench --device {side} exited {done.returncode}",
                        (done.stderr.strip().splitlines() or [""])[-1][:200],
                    )
                    for name in names
                ]
            runs[side] = (out, time.perf_counter() - started)
        (cpu_out, cpu_s), (gpu_out, gpu_s) = runs["cpu"], runs[device]
        compared = subprocess.run(
            cli + ["compare", str(cpu_out), str(gpu_out), "--significance", "0.05"], capture_output=True, text=True
        )
        comparison = compare_runs(load_side(cpu_out), load_side(gpu_out), significance=0.05)
        a, b = (pd.read_csv(out / "examples.csv.gz").sort_values(["cell", "index"]) for out in (cpu_out, gpu_out))
        devices = [json.loads((out / "run.json").read_text())["device"]["device"] for out in (cpu_out, gpu_out)]
    differ = int((a["clean_pred"].to_numpy() != b["clean_pred"].to_numpy()).sum())
    clean_rows = (a["cell"].str.contains("/clean/")).sum()
    attacked = comparison.rows[comparison.rows["threat_model"] != "clean"]
    lowest = float(attacked["p_value"].min()) if len(attacked) else float("nan")
    deltas = ", ".join(f"{r.threat_model} {r.delta_pts:+.1f}" for r in attacked.itertuples())
    ok = compared.returncode == 0 and (attacked["p_value"] > 0.05).all()
    return [
        row(
            names[0],
            "pass" if differ == 0 else f"FAIL: {differ} differ",
            f"ResNet-20, first {n} CIFAR-10 test images, {clean_rows // n} clean rows; {devices[0]} vs {devices[1]}",
            clean_differ=differ,
        ),
        row(
            names[1],
            ("pass" if ok else "FAIL") + f": min p = {lowest:.3g}",
            f"compare exit {compared.returncode}; delta points {deltas}; bench wall {cpu_s:.0f} s vs {gpu_s:.0f} s",
            min_p=lowest,
            compare_exit=compared.returncode,
            cpu_bench_s=round(cpu_s, 1),
            gpu_bench_s=round(gpu_s, 1),
        ),
    ]


# ---------------------------------------------------------------------------- throughput


def _naive_loop():
    spec = importlib.util.spec_from_file_location("bench_harness", ROOT / "benchmarks" / "bench_harness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.naive_loop


def _synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_mib(device: str) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.startswith("cuda") else None


def _reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def throughput(device: str, n: int, repeats: int, budget: Budget) -> list[Row]:
    names = (
        "harness vs torchattacks loop: PGD-10, LowPass r=8 (images/s)",
        "--deterministic cost (harness images/s)",
        "peak GPU memory (MiB)",
    )
    reason = gpu_missing(device) or shared_missing()
    if reason is None and budget.left() < 60:
        reason = "skipped: out of the time budget"
    if reason:
        return [row(name, reason) for name in names]
    import torch

    from hfc_robust.data.adapters import as_dataset
    from hfc_robust.engine.evaluate import evaluate
    from hfc_robust.models.zoo import load_model
    from hfc_robust.runtime.devices import deterministic_mode
    from hfc_robust.spec import BenchSpec

    naive_loop = _naive_loop()
    data = as_dataset(f"npz:{CIFAR}").take(n)
    loaded = load_model("resnet20", RESNET20, num_classes=10, progress=False)
    model = loaded.module.to(device).eval()
    placed = type(loaded)(loaded.name, model, loaded.spec, loaded.weights, loaded.sha256)
    config = BenchSpec(
        dataset="cifar10", model="resnet20", n=n, attacks=("pgd",), eps=(EPS,), radii=(RADIUS,), steps=10, spot_check=0
    )
    images, labels = data.to_float(data.images).to(device), data.labels.to(device)

    def harness(deterministic: bool) -> float:
        with deterministic_mode(deterministic):
            evaluate(config, model=placed, dataset=data, device=device)
        return 0.0

    def naive() -> float:
        naive_loop(model, images, labels, config, config.batch_size)
        return 0.0

    def timed(work, *args) -> tuple[float, float | None]:
        _reset_peak(device)
        _synchronize(device)
        started = time.perf_counter()
        work(*args)
        _synchronize(device)
        return time.perf_counter() - started, _peak_mib(device)

    timed(harness, True)  # warm-up: CUDA context, cuDNN and cuFFT plans
    times: dict[str, list[float]] = {"harness": [], "naive": [], "nondeterministic": []}
    peaks: dict[str, float | None] = {}
    for _ in range(repeats):  # interleaved, so that a slow moment of the machine hits all three
        if budget.left() < 45:
            break
        for name, work, args in (
            ("harness", harness, (True,)),
            ("naive", naive, ()),
            ("nondeterministic", harness, (False,)),
        ):
            seconds, peak = timed(work, *args)
            times[name].append(seconds)
            peaks[name] = max(peaks.get(name) or 0.0, peak or 0.0) if peak is not None else None
    rate = {name: n / statistics.median(values) for name, values in times.items() if values}
    if len(rate) < 3:
        return [row(name, "skipped: out of the time budget") for name in names]
    where = torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor() or "CPU"
    runs = len(times["harness"])
    return [
        row(
            names[0],
            f"{rate_text(rate['harness'])} vs {rate_text(rate['naive'])}",
            f"harness / loop = {rate['harness'] / rate['naive']:.2f}x; ResNet-20, n={n}, batch {config.batch_size}, "
            f"clean + white-box + oblivious + adaptive rows; median of {runs} on {where}",
            harness_images_s=round(rate["harness"], 1),
            naive_images_s=round(rate["naive"], 1),
        ),
        row(
            names[1],
            f"{rate_text(rate['harness'])} on vs {rate_text(rate['nondeterministic'])} off",
            f"deterministic kernels cost {100 * (1 - rate['harness'] / rate['nondeterministic']):.0f}% of the speed "
            "(cuBLAS keeps the fixed workspace in both)",
            nondeterministic_images_s=round(rate["nondeterministic"], 1),
        ),
        row(
            names[2],
            "n/a on the CPU"
            if peaks.get("harness") is None
            else f"{peaks['harness']:.0f} harness, {peaks['naive']:.0f} loop",
            f"torch.cuda.max_memory_allocated, n={n}",
            harness_peak_mib=peaks.get("harness"),
            naive_peak_mib=peaks.get("naive"),
        ),
    ]


def autoattack_vs_reference(device: str, n: int, budget: Budget) -> list[Row]:
    name = "autoattack vs reference AutoAttack: LowPass r=8 (images/s)"
    reason = gpu_missing(device) or shared_missing()
    if reason is None:
        try:
            from pyautoattack import AutoAttack as Reference
        except ImportError:
            reason = "skipped: the reference is not installed (pip install pyautoattack)"
    if reason is None and budget.left() < 40:
        reason = "skipped: out of the time budget"
    if reason:
        return [row(name, reason)]
    import torch

    from hfc_robust.attacks.registry import ATTACKS, AttackOptions
    from hfc_robust.data.adapters import as_dataset
    from hfc_robust.defenses import LowPass
    from hfc_robust.models.zoo import load_model
    from hfc_robust.threat import Norm, ThreatModel

    data = as_dataset(f"npz:{CIFAR}").take(n)
    model = LowPass(load_model("resnet20", RESNET20, num_classes=10, progress=False).module, RADIUS).to(device).eval()
    images, labels = data.to_float(data.images).to(device), data.labels.to(device)
    with torch.no_grad():
        correct = model(images).argmax(1) == labels  # both attack the clean-correct images, as the harness does
    images, labels, ids = images[correct], labels[correct], data.indices[correct.cpu()]

    def robust(adversarial: torch.Tensor) -> float:
        with torch.no_grad():
            return float((model(adversarial).argmax(1) == labels).float().mean())

    _synchronize(device)
    started = time.perf_counter()
    ours = (
        ATTACKS["autoattack"]
        .build(model, ThreatModel(Norm.LINF, EPS), AttackOptions(num_classes=10))
        .run(images, labels, ids)
    )
    _synchronize(device)
    ours_s = time.perf_counter() - started
    reference = Reference(model, eps=EPS, norm="Linf", version="standard", device=device, seed=0)
    started = time.perf_counter()
    theirs, _ = reference.run_standard_evaluation(images, labels, batch_size=250)
    _synchronize(device)
    theirs_s = time.perf_counter() - started
    count = len(labels)
    return [
        row(
            name,
            f"{rate_text(count / ours_s)} vs {rate_text(count / theirs_s)}",
            f"adapter / reference = {theirs_s / ours_s:.2f}x speed; robust accuracy {robust(ours.adversarial):.3f} vs "
            f"{robust(theirs.to(device)):.3f} on the {count} clean-correct of the first {n} images",
            adapter_images_s=round(count / ours_s, 2),
            reference_images_s=round(count / theirs_s, 2),
        )
    ]


# ---------------------------------------------------------------------------- the table


def markdown(rows: list[Row]) -> str:
    lines = ["| check | result | detail |", "|---|---|---|"]
    lines += [f"| {r['check']} | {r['result']} | {r['detail']} |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (the check), cuda:N, or cpu (tries the script itself)")
    parser.add_argument("--budget", type=float, default=290, help="seconds for the whole check")
    parser.add_argument("--n-compare", type=int, default=None, help="images of the CPU-vs-GPU grid (default 500)")
    parser.add_argument("--n-speed", type=int, default=None, help="images of the throughput runs (default 1000)")
    parser.add_argument("--n-autoattack", type=int, default=None, help="images for AutoAttack (default 200)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved throughput runs (the median is reported)")
    parser.add_argument("--no-tests", action="store_true", help="skip the CUDA tests")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    dry = args.device == "cpu"
    n_compare = args.n_compare or (40 if dry else 500)
    n_speed = args.n_speed or (40 if dry else 1000)
    n_autoattack = args.n_autoattack or (10 if dry else 200)
    budget = Budget(args.budget)

    import torch

    torch.backends.cudnn.benchmark = False
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    rows = [
        row(
            "machine",
            gpu if torch.cuda.is_available() else "no CUDA GPU",
            f"torch {torch.__version__}, CUDA {torch.version.cuda}, {os.cpu_count()} CPUs"
            + (" (dry run on the CPU: no GPU figures)" if dry else ""),
        )
    ]
    if not args.no_tests:
        rows += cuda_tests(budget)
    for part in (
        lambda: cpu_vs_gpu(args.device, n_compare, budget),
        lambda: throughput(args.device, n_speed, args.repeats, budget),
        lambda: autoattack_vs_reference(args.device, n_autoattack, budget),
    ):
        try:
            rows += part()
        except Exception as exc:  # one part failing must not hide the others' figures
            rows.append(row("error", f"FAIL: {type(exc).__name__}", str(exc).splitlines()[0][:200] if str(exc) else ""))
    print(markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 1 if any(r["result"].startswith("FAIL") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
