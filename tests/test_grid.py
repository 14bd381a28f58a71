"""The harness against an independent naive loop, and rows that do not depend on the grid.

The naive loop imports nothing from hfc_robust: the defenses and PGD (with per-example random
starts and restarts) come from ``tests/reference.py``, written from the paper and the documented
seeding rule, and FGSM is torchattacks' own. It runs every example for the whole budget, and
encodes the documented semantics of each row:

* clean: the model under the defense classifies x correctly;
* white-box (bare model) and adaptive (through the defense): clean-correct and no PGD iterate of
  any restart fooled the attacked model (the harness stops early at that iterate and skips broken
  examples in later restarts; this loop does neither); for BPDA, the first iterate that fooled the
  BPDA twin (else the last) is scored by the exact defended model;
* oblivious: clean-correct under the defense, and the defense classifies correctly every
  restart's last iterate of the attack crafted on the bare model with its whole budget (x itself
  for examples the bare model already misclassifies);
* worst-case: robust to every attack of the grid.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torchattacks

from tests import reference
from tests.reference import LowPassModel, predict


class SmallCNN(nn.Module):
    """A CNN on 1 x 12 x 12 images with 4 classes, computing in float64 so that the batch a
    forward pass runs in (the harness compacts batches, the naive loop does not) cannot flip a
    gradient sign."""

    def __init__(self) -> None:
        super().__init__()
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(3)
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1).double()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, stride=2).double()
        self.fc = nn.Linear(8 * 6 * 6, 4).double()
        torch.random.set_rng_state(generator_state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x.double()))
        x = torch.relu(self.conv2(x))
        return self.fc(x.flatten(1)).float()


def make_data(n: int = 48) -> tuple[SmallCNN, torch.Tensor, torch.Tensor]:
    model = SmallCNN().eval()
    images = torch.rand(n, 1, 12, 12, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        labels = model(images).argmax(1)
    flip = torch.arange(n) % 7 == 0  # some examples misclassified clean
    labels[flip] = (labels[flip] + 1) % 4
    return model, images, labels


def naive_table(model, x, y, attacks, eps_list, radii, rhos, steps, random_start=False, restarts=1, seed=0):
    """{(defense key, threat, attack, eps): robust bool array}, by brute force."""
    defended = {f"lowpass-r{r:g}": LowPassModel(model, r) for r in radii}
    defended.update({f"smooth-rho{r:g}": reference.smooth_first_conv(model, r) for r in rhos})
    bpda = {f"lowpass-r{r:g}": LowPassModel(model, r, bpda=True) for r in radii}
    for module in list(defended.values()) + list(bpda.values()):
        module.eval()
    correct = {"none": predict(model, x) == y, **{k: predict(m, x) == y for k, m in defended.items()}}
    out = {(k, "clean", "none", 0.0): c for k, c in correct.items()}

    def run_pgd(target, eps):
        return reference.pgd(target, x, y, eps, steps, restarts=restarts, seed=seed, start=random_start)

    for name in attacks:
        for eps in eps_list:
            if name != "bpda-pgd":
                if name == "fgsm":
                    adv = torchattacks.FGSM(model, eps=eps)(x, y)
                    fooled, candidates = predict(model, adv) != y, [adv]
                else:
                    result = run_pgd(model, eps)
                    fooled, candidates = result.fooled, result.finals
                out[("none", "whitebox", name, eps)] = correct["none"] & ~fooled
                for key, module in defended.items():
                    robust = correct[key].clone()
                    for candidate in candidates:
                        source = torch.where(correct["none"][:, None, None, None], candidate, x)
                        robust &= predict(module, source) == y
                    out[(key, "oblivious", name, eps)] = robust
            for key, module in defended.items():
                if name == "bpda-pgd":
                    if key not in bpda:
                        continue
                    robust = predict(module, run_pgd(bpda[key], eps).first) == y
                elif name == "fgsm":
                    robust = predict(module, torchattacks.FGSM(module, eps=eps)(x, y)) == y
                else:
                    robust = ~run_pgd(module, eps).fooled
                out[(key, "adaptive", name, eps)] = correct[key] & robust
    for key, threat, name, eps in list(out):
        members = [a for a in attacks if (key, threat, a, eps) in out]
        if threat != "clean" and len(members) > 1 and name == members[0]:
            robust = torch.ones(len(y), dtype=torch.bool)
            for a in members:
                robust &= out[(key, threat, a, eps)]
            out[(key, threat, "worst-case", eps)] = robust
    return out


def engine_outcomes(model, x, y, **grid) -> dict[tuple, np.ndarray]:
    """{(defense key, threat, attack, eps rounded to 7 decimals): robust} from the engine."""
    from hfc_robust.data.dataset import ImageDataset
    from hfc_robust.engine.evaluate import evaluate
    from hfc_robust.spec import BenchSpec

    config = BenchSpec(dataset="toy", model="toy", n=None, spot_check=0, **grid)
    result = evaluate(config, model=model, dataset=ImageDataset("toy", x, y, 4))
    return {(c.defense, c.scenario, c.attack, round(c.eps, 7)): result.outcomes(c)[1] for c in result.cells}


def assert_matches_naive(grid: dict, steps: int = 5, **attack) -> dict:
    model, x, y = make_data()
    ours = engine_outcomes(model, x, y, steps=steps, **attack, **grid)
    naive = naive_table(model, x, y, grid["attacks"], grid["eps"], grid["radii"], grid["rhos"], steps, **attack)
    assert len(ours) == len(naive)
    for (key, threat, attack_name, eps), robust in naive.items():
        cell = (key, threat, attack_name, round(eps, 7))
        assert cell in ours, cell
        np.testing.assert_array_equal(ours[cell], robust.numpy(), err_msg=str(cell))
    # the grid is not trivial: attacks break some examples and leave others
    attacked = [v for (k, t, a, e), v in naive.items() if t != "clean"]
    assert any(v.sum() < len(y) for v in attacked) and any(v.sum() > 0 for v in attacked)
    return naive


@pytest.mark.parametrize(
    "grid",
    [
        dict(
            attacks=("fgsm", "pgd", "bpda-pgd"),
            eps=(2 / 255, 6 / 255, 12 / 255),
            radii=(3.0,),
            rhos=(0.5,),
            batch_size=16,
        ),
        dict(attacks=("pgd",), eps=(8 / 255,), radii=(2.0, 4.0), rhos=(), batch_size=48),
        dict(attacks=("pgd", "fgsm"), eps=(1 / 255, 16 / 255), radii=(), rhos=(1.0,), batch_size=7),
    ],
    ids=["fgsm-pgd-bpda-3eps", "pgd-2radii", "pgd-fgsm-rho-batch7"],
)
def test_harness_matches_an_independent_naive_loop(grid):
    assert_matches_naive(grid, random_start=False)


@pytest.mark.parametrize("seed", [0, 11])
def test_random_starts_and_restarts_match_the_documented_seeding_rule(seed):
    """Per-example random starts drawn from sha256(f"{seed}:{index}:{restart}") (tests/reference.py),
    two restarts, through every threat model, in batches that do not divide the data."""
    grid = dict(attacks=("pgd", "bpda-pgd"), eps=(6 / 255, 12 / 255), radii=(3.0,), rhos=(0.5,), batch_size=20)
    naive = assert_matches_naive(grid, steps=3, random_start=True, restarts=2, seed=seed)
    # the random start matters here: without it the same grid gives other outcomes
    fixed = naive_table(*make_data(), grid["attacks"], grid["eps"], grid["radii"], grid["rhos"], 3, random_start=False)
    assert any(not torch.equal(naive[key], fixed[key]) for key in naive)


def test_rows_do_not_depend_on_the_rest_of_the_grid_fast():
    """The default suite's grid-invariance check (the slow test below adds AutoAttack's APGD-CE):
    a row alone equals the same row inside a grid with more eps, attacks, radii and rho, with
    random starts and restarts, and batches that split the data differently from its rows."""
    model, x, y = make_data(30)
    common = dict(steps=3, restarts=2, seed=7, batch_size=16)
    alone = engine_outcomes(model, x, y, attacks=("pgd",), eps=(8 / 255,), radii=(3.0,), **common)
    bigger = engine_outcomes(
        model,
        x,
        y,
        attacks=("fgsm", "pgd", "bpda-pgd"),
        eps=(2 / 255, 4 / 255, 8 / 255),
        radii=(2.0, 3.0),
        rhos=(0.5,),
        **common,
    )
    assert len(alone) == 5 and all(cell in bigger for cell in alone)  # clean x2, whitebox, oblivious, adaptive
    for cell in alone:
        np.testing.assert_array_equal(alone[cell], bigger[cell], err_msg=str(cell))
    assert (
        bigger[("none", "whitebox", "pgd", round(8 / 255, 7))].sum()
        < bigger[("none", "whitebox", "pgd", round(2 / 255, 7))].sum()
    )  # the grid really attacks


@pytest.mark.slow
def test_rows_do_not_depend_on_the_rest_of_the_grid():
    """A row's per-example outcomes are the same alone and inside larger grids (more eps, attacks,
    radii, rho), with random starts, restarts and an AutoAttack component."""
    model, x, y = make_data(40)
    common = dict(steps=4, restarts=2, seed=7, batch_size=16, queries=60)
    alone = engine_outcomes(model, x, y, attacks=("pgd",), eps=(8 / 255,), radii=(3.0,), **common)
    bigger = engine_outcomes(
        model,
        x,
        y,
        attacks=("fgsm", "pgd", "apgd-ce"),
        eps=(1 / 255, 2 / 255, 4 / 255, 8 / 255),
        radii=(2.0, 3.0),
        rhos=(0.5,),
        **common,
    )
    apgd_alone = engine_outcomes(model, x, y, attacks=("apgd-ce",), eps=(4 / 255,), radii=(3.0,), **common)
    shared = [cell for cell in alone if cell in bigger]
    assert len(shared) == len(alone) == 5  # clean x2, whitebox, oblivious, adaptive
    for cell in shared:
        np.testing.assert_array_equal(alone[cell], bigger[cell], err_msg=str(cell))
    for cell in apgd_alone:
        np.testing.assert_array_equal(apgd_alone[cell], bigger[cell], err_msg=str(cell))
    # and the grid really attacks: the 8/255 rows break examples that are robust at 1/255
    low = bigger[("none", "whitebox", "pgd", round(1 / 255, 7))]
    high = bigger[("none", "whitebox", "pgd", round(8 / 255, 7))]
    assert high.sum() < low.sum()


def test_oblivious_rows_use_the_full_budget_transfer_example():
    """The oblivious row classifies PGD's last iterate, not its first misclassified one."""
    model, x, y = make_data()
    eps = 12 / 255
    ours = engine_outcomes(
        model, x, y, attacks=("pgd",), eps=(eps,), radii=(4.0,), steps=5, random_start=False, batch_size=48
    )
    defended = LowPassModel(model, 4.0).eval()
    correct = predict(model, x) == y
    result = reference.pgd(model, x, y, eps, 5, start=False)
    first, final = result.first, result.finals[-1]
    by_final = (predict(defended, torch.where(correct[:, None, None, None], final, x)) == y) & (
        predict(defended, x) == y
    )
    by_first = (predict(defended, torch.where(correct[:, None, None, None], first, x)) == y) & (
        predict(defended, x) == y
    )
    cell = ("lowpass-r4", "oblivious", "pgd", round(eps, 7))
    np.testing.assert_array_equal(ours[cell], by_final.numpy())
    assert not torch.equal(by_first, by_final)  # the two differ here, so the test can tell them apart
