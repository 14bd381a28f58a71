"""hfc-robust's AutoAttack against the reference implementation, on the same images through
the same defended module, at 1 thread, with the time of each stage; and ``autoattack-fast``.

    python benchmarks/bench_autoattack.py                        # both settings, one repeat each
    python benchmarks/bench_autoattack.py --setting fmnist --repeat 2 --json out.json

Settings (issue 16): ``fmnist-cnn`` behind ``LowPass`` r=8 at eps 8/255 on the first 200 embedded
Fashion-MNIST test images, and ResNet-20 (../shared) behind ``LowPass`` r=8 at 1/255 on the first
100 CIFAR-10 test images (``--setting resnet20``; ``--setting resnet20-bare`` is the same model
undefended, the white-box row); ``--setting cifar10-small-at`` (the packaged
adversarially trained CIFAR CNN behind ``LowPass`` r=8 at 8/255, first 200 CIFAR-10 test images,
where APGD-T breaks examples APGD-CE left) is a third setting for ``autoattack-fast``. The reference is
``pyautoattack`` (Croce & Hein's
AutoAttack), ``version='standard'``, seed 0, one batch of 250, its attacks' ``perturb`` timed
per stage. Ours is :class:`hfc_robust.attacks.AutoAttack` (the cascade an ``autoattack`` row
runs), seed 0, on the same images. Each repeat runs reference, ours and ``autoattack-fast``, in
alternating order; the figures are medians over repeats of each path's wall time and CPU time
(``time.process_time``: this process alone, the fairer figure on a shared machine).
Per-example outcomes of ours and the reference are compared and reported (they must be equal).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))

from hfc_robust import LowPass, load_dataset, load_model
from hfc_robust.attacks import AutoAttack, AutoAttackFast
from hfc_robust.runtime.allocator import fix_malloc_thresholds
from hfc_robust.runtime.devices import device_record
from hfc_robust.threat import ThreatModel

SETTINGS = {
    "fmnist": dict(model="fmnist-cnn", weights=None, dataset="fmnist", n=200, radius=8, eps=8 / 255),
    "resnet20": dict(
        model="resnet20",
        weights=str(SHARED / "models/cifar10-resnet/resnet20-12fca82f.th"),
        dataset=f"npz:{SHARED / 'data/cifar10/cifar10_test_first1000.npz'}",
        n=100,
        radius=8,
        eps=1 / 255,
    ),
    # the white-box row of the same grid: the undefended ResNet-20, attacked as it is (issue 24)
    "resnet20-bare": dict(
        model="resnet20",
        weights=str(SHARED / "models/cifar10-resnet/resnet20-12fca82f.th"),
        dataset=f"npz:{SHARED / 'data/cifar10/cifar10_test_first1000.npz'}",
        n=100,
        radius=None,
        eps=1 / 255,
    ),
    "cifar10-small-at": dict(
        model="cifar10-small-at",
        weights=None,
        dataset=f"npz:{SHARED / 'data/cifar10/cifar10_test_first1000.npz'}",
        n=200,
        radius=8,
        eps=8 / 255,
    ),
}
STAGES = ("apgd-ce", "apgd-t", "fab-t", "square")


def setting_data(name: str, n: int | None = None):
    """(attacked module: defended, or the bare model when the setting has no radius; images, labels, eps)."""
    s = SETTINGS[name]
    model = load_model(s["model"], s["weights"])
    data = load_dataset(s["dataset"], n or s["n"])
    module = model.eval() if s["radius"] is None else LowPass(model, s["radius"]).eval()
    return module, data.to_float(data.images), data.labels, s["eps"]


def timed(method, stage: str, wall: dict[str, float], cpu: dict[str, float]):
    """``method`` adding its wall and CPU seconds to ``wall[stage]`` and ``cpu[stage]``."""

    def call(*args, **kwargs):
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            return method(*args, **kwargs)
        finally:
            wall[stage] = wall.get(stage, 0.0) + time.perf_counter() - start
            cpu[stage] = cpu.get(stage, 0.0) + time.process_time() - start_cpu

    return call


def reference(module, x, y, eps, norm: str = "Linf") -> tuple[torch.Tensor, dict, dict]:
    """The reference's standard AutoAttack: (robust per example, wall and CPU seconds per stage)."""
    from pyautoattack import AutoAttack as Reference

    logging.getLogger("auto-attack").setLevel(logging.WARNING)
    attack = Reference(module, eps=eps, norm=norm, seed=0, version="standard", device=x.device)
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for stage, component in zip(STAGES, (attack.apgd, attack.apgd_targeted, attack.fab, attack.square)):
        component.perturb = timed(component.perturb, stage, wall, cpu)
    adversarial, _ = attack.run_standard_evaluation(x, y, batch_size=250)
    with torch.no_grad():
        robust = module(adversarial).max(1)[1] == y
    return robust, wall, cpu


def ours(attack_class, module, x, y, eps, norm: str = "linf") -> tuple[torch.Tensor, dict, dict]:
    attack = attack_class(module, ThreatModel(norm, eps), seed=0)
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for stage, component in attack.components.items():
        component.run = timed(component.run, stage, wall, cpu)
    out = attack.run(x, y)
    return out.predictions == y, wall, cpu


def measure(name: str, repeat: int, n: int | None) -> dict:
    module, x, y, eps = setting_data(name, n)
    with torch.no_grad():
        clean = int((module(x).max(1)[1] == y).sum())
    paths = {
        "reference": lambda: reference(module, x, y, eps),
        "ours": lambda: ours(AutoAttack, module, x, y, eps),
        "fast": lambda: ours(AutoAttackFast, module, x, y, eps),
    }
    runs: dict[str, list[dict]] = {p: [] for p in paths}
    robust: dict[str, torch.Tensor] = {}
    for r in range(repeat):
        for path in list(paths) if r % 2 == 0 else list(reversed(paths)):
            wall, cpu = time.perf_counter(), time.process_time()
            outcome, stage_wall, stage_cpu = paths[path]()
            runs[path].append(
                {
                    "wall_s": time.perf_counter() - wall,
                    "cpu_s": time.process_time() - cpu,
                    "stages_wall_s": stage_wall,
                    "stages_cpu_s": stage_cpu,
                }
            )
            robust.setdefault(path, outcome)
            print(
                f"{name} repeat {r} {path}: wall {runs[path][-1]['wall_s']:.1f} s, "
                f"cpu {runs[path][-1]['cpu_s']:.1f} s, robust {int(outcome.sum())}, "
                f"stages cpu {{{', '.join(f'{k}: {v:.1f}' for k, v in stage_cpu.items())}}}",
                flush=True,
            )
    med = {p: {k: statistics.median(run[k] for run in runs[p]) for k in ("wall_s", "cpu_s")} for p in paths}
    for p in paths:
        for key in ("stages_wall_s", "stages_cpu_s"):
            med[p][key] = {s: statistics.median(run[key].get(s, 0.0) for run in runs[p]) for s in runs[p][0][key]}
    return {
        "setting": name,
        **{k: v for k, v in SETTINGS[name].items() if k != "weights"},
        "n": len(y),
        "clean": clean,
        "robust": {p: int(robust[p].sum()) for p in paths},
        "outcomes_differ_ours_vs_reference": int((robust["ours"] != robust["reference"]).sum()),
        "fast_extra_robust": int((robust["fast"] & ~robust["ours"]).sum()),
        "fast_fewer_robust": int((~robust["fast"] & robust["ours"]).sum()),
        "median": med,
        "runs": runs,
        "ratio_ours_reference": {k: med["ours"][k] / med["reference"][k] for k in ("wall_s", "cpu_s")},
        "ratio_fast_ours": {k: med["fast"][k] / med["ours"][k] for k in ("wall_s", "cpu_s")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", action="append", choices=list(SETTINGS), help="default: all of them")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--n", type=int, default=None, help="images (default: the setting's)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    fix_malloc_thresholds()  # as `hfc-robust bench` does: the same allocator for both implementations
    results = [measure(name, args.repeat, args.n) for name in (args.setting or list(SETTINGS))]
    for r in results:
        print(
            f"\n{r['setting']}: n={r['n']}, clean {r['clean']}, robust {r['robust']}, "
            f"outcomes differing (ours vs reference): {r['outcomes_differ_ours_vs_reference']}"
        )
        print(
            f"  ours / reference: wall {r['ratio_ours_reference']['wall_s']:.2f}, "
            f"cpu {r['ratio_ours_reference']['cpu_s']:.2f}"
        )
        print(
            f"  fast / ours: wall {r['ratio_fast_ours']['wall_s']:.2f}, cpu {r['ratio_fast_ours']['cpu_s']:.2f}, "
            f"extra robust {r['fast_extra_robust']}"
        )
        for stage in STAGES:
            for key in ("stages_wall_s", "stages_cpu_s"):
                ref, mine = r["median"]["reference"][key].get(stage, 0.0), r["median"]["ours"][key].get(stage, 0.0)
                print(
                    f"  {stage:8s} {key[7:10]:4s} reference {ref:7.1f} s  ours {mine:7.1f} s  "
                    f"ratio {mine / ref if ref else float('nan'):.2f}"
                )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "torch": torch.__version__,
                    "threads": torch.get_num_threads(),
                    "device": device_record("cpu"),
                    "results": results,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
