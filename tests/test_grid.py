"""The harness against an independent naive loop, and rows that do not depend on the grid.

The naive loop imports nothing from hfc_robust but the defense modules: the attacks are
torchattacks' own FGSM and PGD (no random start, so that both sides start from the same
point), run on every example for the whole budget, in float32. It encodes the documented
semantics of each row:

* clean: the model under the defense classifies x correctly;
* white-box (bare model) and adaptive (through the defense): clean-correct and no PGD
  iterate fooled the attacked model (the harness stops early at that iterate; this loop does
  not); for BPDA, the first iterate that fooled the BPDA twin (else the last) is scored by the
  exact defended model;
* oblivious: clean-correct under the defense, and the defense classifies correctly the
  example that the attack crafted on the bare model with its whole budget (x itself for
  examples the bare model already misclassifies);
* worst-case: robust to every attack of the grid.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torchattacks

from hfc_robust.defenses import LowPass, smooth_first_conv


class SmallCNN(nn.Module):
    """A float32 CNN on 1 x 12 x 12 images with 4 classes."""

    def __init__(self) -> None:
        super().__init__()
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(3)
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, stride=2)
        self.fc = nn.Linear(8 * 6 * 6, 4)
        torch.random.set_rng_state(generator_state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(x.flatten(1))


def make_data(n: int = 48) -> tuple[SmallCNN, torch.Tensor, torch.Tensor]:
    model = SmallCNN().eval()
    images = torch.rand(n, 1, 12, 12, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        labels = model(images).argmax(1)
    flip = torch.arange(n) % 7 == 0  # some examples misclassified clean
    labels[flip] = (labels[flip] + 1) % 4
    return model, images, labels


class RecordingPGD(torchattacks.PGD):
    """torchattacks' PGD, unchanged, that remembers the prediction at every iterate it evaluates."""

    def get_logits(self, inputs, labels=None, *args, **kwargs):
        logits = super().get_logits(inputs)
        self.seen.append((inputs.detach().clone(), logits.detach().argmax(1)))
        return logits


def naive_pgd(model: nn.Module, x, y, eps, steps, alpha):
    """``(first fooling iterate or last iterate, fooled at any iterate, last iterate)``."""
    attack = RecordingPGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)
    attack.seen = []
    final = attack(x, y)
    with torch.no_grad():
        attack.seen.append((final, model(final).argmax(1)))
    first = final.clone()
    fooled = torch.zeros(len(y), dtype=torch.bool)
    for iterate, pred in attack.seen:
        new = (pred != y) & ~fooled
        first[new] = iterate[new]
        fooled |= new
    return first, fooled, final


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1)


def naive_table(model, x, y, attacks, eps_list, radii, rhos, steps):
    """{(defense key, threat, attack, eps): robust bool array}, by brute force."""
    defended = {f"lowpass-r{r:g}": LowPass(model, r) for r in radii}
    defended.update({f"smooth-rho{r:g}": smooth_first_conv(model, r) for r in rhos})
    bpda = {f"lowpass-r{r:g}": LowPass(model, r, bpda=True) for r in radii}
    for module in list(defended.values()) + list(bpda.values()):
        module.eval()
    correct = {"none": predict(model, x) == y, **{k: predict(m, x) == y for k, m in defended.items()}}
    out = {(k, "clean", "none", 0.0): c for k, c in correct.items()}
    for name in attacks:
        for eps in eps_list:
            alpha = eps / 4
            if name != "bpda-pgd":
                if name == "fgsm":
                    adv = torchattacks.FGSM(model, eps=eps)(x, y)
                    fooled, transfer = predict(model, adv) != y, adv
                else:
                    _, fooled, transfer = naive_pgd(model, x, y, eps, steps, alpha)
                out[("none", "whitebox", name, eps)] = correct["none"] & ~fooled
                source = torch.where(correct["none"][:, None, None, None], transfer, x)
                for key, module in defended.items():
                    out[(key, "oblivious", name, eps)] = correct[key] & (predict(module, source) == y)
            for key, module in defended.items():
                if name == "bpda-pgd":
                    if key not in bpda:
                        continue
                    first, _, _ = naive_pgd(bpda[key], x, y, eps, steps, alpha)
                    robust = predict(module, first) == y
                elif name == "fgsm":
                    robust = predict(module, torchattacks.FGSM(module, eps=eps)(x, y)) == y
                else:
                    _, fooled, _ = naive_pgd(module, x, y, eps, steps, alpha)
                    robust = ~fooled
                out[(key, "adaptive", name, eps)] = correct[key] & robust
    for (key, threat, name, eps) in list(out):
        members = [a for a in attacks if (key, threat, a, eps) in out]
        if threat != "clean" and len(members) > 1 and name == members[0]:
            robust = torch.ones(len(y), dtype=torch.bool)
            for a in members:
                robust &= out[(key, threat, a, eps)]
            out[(key, threat, "worst-case", eps)] = robust
    return out


def engine_outcomes(model, x, y, **grid) -> dict[tuple, np.ndarray]:
    """{(defense key, threat, attack, eps rounded to 7 decimals): robust} from the engine."""
    from hfc_robust.bench.config import BenchConfig
    from hfc_robust.bench.engine import run_grid
    from hfc_robust.data.dataset import ImageDataset

    config = BenchConfig(dataset="toy", model="toy", n=None, spot_check=0, **grid)
    result = run_grid(config, model=model, dataset=ImageDataset("toy", x, y, 4))
    return {(c.defense, c.threat, c.attack, round(c.eps, 7)): result.outcomes(c)[1] for c in result.cells}


@pytest.mark.parametrize("grid", [
    dict(attacks=("fgsm", "pgd", "bpda-pgd"), eps=(2 / 255, 6 / 255, 12 / 255), radii=(3.0,), rhos=(0.5,), batch_size=16),
    dict(attacks=("pgd",), eps=(8 / 255,), radii=(2.0, 4.0), rhos=(), batch_size=48),
    dict(attacks=("pgd", "fgsm"), eps=(1 / 255, 16 / 255), radii=(), rhos=(1.0,), batch_size=7),
], ids=["fgsm-pgd-bpda-3eps", "pgd-2radii", "pgd-fgsm-rho-batch7"])
def test_harness_matches_an_independent_naive_loop(grid):
    model, x, y = make_data()
    steps = 5
    ours = engine_outcomes(model, x, y, steps=steps, random_start=False, **grid)
    naive = naive_table(model, x, y, grid["attacks"], grid["eps"], grid["radii"], grid["rhos"], steps)
    assert len(ours) == len(naive)
    for (key, threat, attack, eps), robust in naive.items():
        cell = (key, threat, attack, round(eps, 7))
        assert cell in ours, cell
        np.testing.assert_array_equal(ours[cell], robust.numpy(), err_msg=str(cell))
    # the grid is not trivial: attacks break some examples and leave others
    attacked = [v for (k, t, a, e), v in naive.items() if t != "clean"]
    assert any(v.sum() < len(y) for v in attacked) and any(v.sum() > 0 for v in attacked)


@pytest.mark.slow
def test_rows_do_not_depend_on_the_rest_of_the_grid():
    """A row's per-example outcomes are the same alone and inside larger grids (more eps, attacks,
    radii, rho), with random starts, restarts and an AutoAttack component."""
    model, x, y = make_data(40)
    common = dict(steps=4, restarts=2, seed=7, batch_size=16, queries=60)
    alone = engine_outcomes(model, x, y, attacks=("pgd",), eps=(8 / 255,), radii=(3.0,), **common)
    bigger = engine_outcomes(model, x, y, attacks=("fgsm", "pgd", "apgd-ce"),
                             eps=(1 / 255, 2 / 255, 4 / 255, 8 / 255), radii=(2.0, 3.0), rhos=(0.5,), **common)
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
    ours = engine_outcomes(model, x, y, attacks=("pgd",), eps=(eps,), radii=(4.0,), steps=5, random_start=False,
                           batch_size=48)
    defended = LowPass(model, 4.0).eval()
    correct = predict(model, x) == y
    first, _, final = naive_pgd(model, x, y, eps, 5, eps / 4)
    by_final = (predict(defended, torch.where(correct[:, None, None, None], final, x)) == y) & (predict(defended, x) == y)
    by_first = (predict(defended, torch.where(correct[:, None, None, None], first, x)) == y) & (predict(defended, x) == y)
    cell = ("lowpass-r4", "oblivious", "pgd", round(eps, 7))
    np.testing.assert_array_equal(ours[cell], by_final.numpy())
    assert not torch.equal(by_first, by_final)  # the two differ here, so the test can tell them apart
