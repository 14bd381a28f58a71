"""Wall time of hfc-robust's harness against a plain torchattacks loop on the same grid.

    python benchmarks/bench_harness.py                       # the issue's default grid on fmnist
    python benchmarks/bench_harness.py --n 300 --radius 8    # smaller

The naive loop is what one writes with torchattacks alone: for every (defense, threat
model, attack, eps) cell it recomputes clean predictions, crafts adversarial examples for
every image (re-crafting the bare-model examples for each defense's oblivious row), and
runs PGD for all its steps. The harness computes clean predictions once per model, crafts
the bare-model examples once per (attack, eps) for the white-box and every oblivious row,
skips examples misclassified clean, and stops adaptive PGD per example at its first success.
Both run in this process, one after the other, with the same threads; the ratio is what we
report.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
import torchattacks

from hfc_robust.cli.parsing import parse_float_list, parse_number_list
from hfc_robust.data.datasets import load_dataset
from hfc_robust.engine.evaluate import evaluate
from hfc_robust.models.zoo import load_model
from hfc_robust.spec import BenchSpec


def naive_loop(
    model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, config: BenchSpec, batch_size: int
) -> dict[tuple, float]:
    accuracy: dict[tuple, float] = {}

    def evaluate(net, x):
        with torch.no_grad():
            return torch.cat([net(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])

    def craft(net, name, eps):
        if name == "fgsm":
            attack = torchattacks.FGSM(net, eps=eps)
        else:
            attack = torchattacks.PGD(net, eps=eps, alpha=eps / 4, steps=config.steps, random_start=True)
        return torch.cat(
            [attack(images[i : i + batch_size], labels[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        )

    model.eval()
    for defense in config.defenses():
        # A new wrapper module starts in train mode; torchattacks restores "train" on the whole
        # wrapper after attacking it, which would put the BatchNorm layers inside in train mode.
        net = defense.apply(model).eval()
        clean = evaluate(net, images) == labels
        accuracy[(defense.key, "clean")] = clean.float().mean().item()
        for name in config.attacks:
            for eps in config.eps:
                if defense.kind == "none":
                    adv = craft(net, name, eps)
                    accuracy[(defense.key, "whitebox", name, eps)] = (
                        (clean & (evaluate(net, adv) == labels)).float().mean().item()
                    )
                    continue
                adv = craft(model, name, eps)  # oblivious: crafted on the bare model
                accuracy[(defense.key, "oblivious", name, eps)] = (
                    (clean & (evaluate(net, adv) == labels)).float().mean().item()
                )
                adv = craft(net, name, eps)  # adaptive: crafted through the defense
                accuracy[(defense.key, "adaptive", name, eps)] = (
                    (clean & (evaluate(net, adv) == labels)).float().mean().item()
                )
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fmnist")
    parser.add_argument("--model", default="fmnist-cnn")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--attack", default="fgsm,pgd")
    parser.add_argument("--eps", default="2/255,4/255,8/255")
    parser.add_argument("--radius", default="4,8,12,16")
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()

    dataset = load_dataset(args.dataset, args.n)
    loaded = load_model(args.model, args.weights, num_classes=dataset.num_classes, progress=False)
    config = BenchSpec(
        dataset=args.dataset,
        model=args.model,
        n=args.n,
        attacks=tuple(args.attack.split(",")),
        eps=parse_number_list(args.eps),
        radii=parse_float_list(args.radius, "radius"),
        batch_size=args.batch_size,
    )
    images = dataset.to_float(dataset.images)
    labels = dataset.labels

    # Wall time is what users wait for; process CPU time is also reported because on a shared
    # machine other jobs can slow one phase more than the other.
    torch.manual_seed(0)
    start, cpu_start = time.perf_counter(), time.process_time()
    result = evaluate(config, model=loaded, dataset=dataset)
    harness_s, harness_cpu = time.perf_counter() - start, time.process_time() - cpu_start

    torch.manual_seed(0)
    before = {k: v.clone() for k, v in loaded.module.state_dict().items()}
    start, cpu_start = time.perf_counter(), time.process_time()
    naive = naive_loop(loaded.module, images, labels, config, args.batch_size)
    naive_s, naive_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    unchanged = all(torch.equal(v, before[k]) for k, v in loaded.module.state_dict().items())
    assert unchanged, "the naive loop changed the model (a module ran in train mode)"

    table = result.table
    cells = len(table[table["attack"] != "worst-case"])
    print(
        f"grid: {args.model} on {args.dataset}, n={len(dataset)}, attacks {args.attack}, eps {args.eps}, "
        f"radii {args.radius}: {cells} cells"
    )
    print(f"harness  {harness_s:8.1f} s wall  {harness_cpu:8.1f} s CPU")
    print(f"naive    {naive_s:8.1f} s wall  {naive_cpu:8.1f} s CPU")
    print(
        f"ratio    {harness_s / naive_s:8.3f} wall  {harness_cpu / naive_cpu:6.3f} CPU  "
        "(harness / naive; lower is better)"
    )
    headline = table[(table["threat_model"] == "adaptive") & (table["attack"] == "pgd")]
    print("adaptive PGD accuracy, harness vs naive (different random starts; harness counts first successes):")
    for _, row in headline.iterrows():
        key = (f"lowpass-r{row['radius']:g}", "adaptive", "pgd", row["eps"])
        print(f"  r={row['radius']:<4g} eps={row['eps_255']:g}/255  {row['accuracy']:.3f}  vs  {naive[key]:.3f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {
                    "harness_s": harness_s,
                    "naive_s": naive_s,
                    "ratio": harness_s / naive_s,
                    "harness_cpu_s": harness_cpu,
                    "naive_cpu_s": naive_cpu,
                    "cpu_ratio": harness_cpu / naive_cpu,
                    "cells": cells,
                    "n": len(dataset),
                    "threads": torch.get_num_threads(),
                    "torch": torch.__version__,
                    "platform": platform.platform(),
                },
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
