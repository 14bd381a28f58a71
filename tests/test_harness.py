"""The survivor-only, reuse-everything harness against a plain, unoptimised loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from hfc_robust.attacks import attack_loss, example_seed
from hfc_robust.bench.checks import run_checks
from hfc_robust.data.dataset import ImageDataset
from hfc_robust.defenses import DefenseSpec, InputTransform, LowPass, smooth_first_conv
from hfc_robust.bench.engine import BenchConfig, run_bench


class DoubleCNN(nn.Module):
    """Computes in float64 so that batch composition cannot flip a gradient sign."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1).double()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, stride=2).double()
        self.fc = nn.Linear(8 * 6 * 6, 4).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x.double()))
        x = torch.relu(self.conv2(x))
        return self.fc(x.flatten(1)).float()


def make_dataset(n: int = 40) -> tuple[DoubleCNN, ImageDataset]:
    model = DoubleCNN().eval()
    generator = torch.Generator().manual_seed(5)
    images = torch.rand(n, 1, 12, 12, generator=generator)
    with torch.no_grad():
        labels = model(images).argmax(1)
    flip = torch.arange(n) % 7 == 0  # some examples misclassified clean
    labels[flip] = (labels[flip] + 1) % 4
    return model, ImageDataset("toy", images, labels, 4)


def naive_pgd(model, x, y, ids, eps, steps, alpha, restarts, seed, loss):
    """Every example, every step, every restart; first-success semantics per example."""
    result, done = x.clone(), torch.zeros(len(y), dtype=torch.bool)
    for restart in range(restarts):
        noise = torch.stack([torch.rand(x.shape[1:], generator=torch.Generator().manual_seed(
            example_seed(seed, int(i), restart))) * 2 - 1 for i in ids])
        adv = (x + eps * noise).clamp(0, 1)
        first = adv.clone()
        hit = torch.zeros(len(y), dtype=torch.bool)
        for step in range(steps + 1):
            a = adv.clone().requires_grad_(True)
            logits = model(a)
            new = (logits.argmax(1) != y) & ~hit
            first[new] = adv[new]
            hit |= new
            if step == steps:
                break
            grad, = torch.autograd.grad(attack_loss(logits, y, loss), a)
            adv = (x + (adv + alpha * grad.sign() - x).clamp(-eps, eps)).clamp(0, 1).detach()
        final = torch.where(hit[:, None, None, None], first, adv)
        take = ~done
        result[take] = final[take]
        done |= hit
    return result


def naive_fgsm(model, x, y, eps, loss):
    a = x.clone().requires_grad_(True)
    grad, = torch.autograd.grad(attack_loss(model(a), y, loss), a)
    return (x + eps * grad.sign()).clamp(0, 1).detach()


def naive_outcomes(model, dataset, config, defenses):
    """{(defense, threat, attack, eps): robust bool array} by brute force."""
    x, y, ids = dataset.to_float(dataset.images), dataset.labels, dataset.indices
    modules = {d.key: d.apply(model) for d in defenses}
    bpda = {d.key: d.apply(model, bpda=True) for d in defenses if d.kind == "lowpass"}
    with torch.no_grad():
        clean = {k: m(x).argmax(1) for k, m in modules.items()}

    def attack(name, target, eps):
        if name == "fgsm":
            return naive_fgsm(target, x, y, eps, config.loss)
        return naive_pgd(target, x, y, ids, eps, config.steps, config.alpha or eps / 4, config.restarts, config.seed,
                         config.loss)

    def predict(m, images):
        with torch.no_grad():
            return m(images).argmax(1)

    out = {}
    for name in config.attacks:
        if name != "bpda-pgd":
            # bare model: adversarial examples, frozen once broken at a smaller eps
            effective = x.clone()
            broken = clean["none"] != y
            robust = ~broken
            for eps in config.eps:
                adv = attack(name, model, eps)
                effective = torch.where(broken[:, None, None, None], effective, adv)
                broken = broken | (predict(model, adv) != y)
                robust = robust & (predict(model, adv) == y)
                out[("none", "whitebox", name, eps)] = robust.clone()
                for d in defenses[1:]:
                    key = (d.key, "oblivious", name, eps)
                    previous = out.get((d.key, "oblivious", name, config.eps[config.eps.index(eps) - 1])) \
                        if config.eps.index(eps) > 0 else (clean[d.key] == y)
                    out[key] = previous & (predict(modules[d.key], effective) == y)
        for d in defenses[1:]:
            if name == "bpda-pgd" and d.kind != "lowpass":
                continue
            robust = clean[d.key] == y
            for eps in config.eps:
                target = bpda[d.key] if name == "bpda-pgd" else modules[d.key]
                adv = attack("pgd" if name == "bpda-pgd" else name, target, eps)
                robust = robust & (predict(modules[d.key], adv) == y)
                out[(d.key, "adaptive", name, eps)] = robust.clone()
    return out


@pytest.mark.parametrize("restarts,loss", [(1, "ce"), (2, "margin")])
def test_optimised_harness_matches_naive_loop(restarts, loss):
    model, dataset = make_dataset()
    config = BenchConfig(dataset="toy", model="toy", n=None, attacks=("fgsm", "pgd", "bpda-pgd"),
                         eps=(2 / 255, 6 / 255, 12 / 255), radii=(3,), rhos=(0.5,), steps=4, restarts=restarts,
                         loss=loss, seed=11, batch_size=16)
    result = run_bench(config, model=model, dataset=dataset)
    naive = naive_outcomes(model, dataset, config, config.defenses())
    examples = result.examples
    compared = 0
    for (dkey, threat, attack, eps), robust in naive.items():
        cell = f"toy/toy/{dkey}/{threat}/{attack}/eps={eps:.7f}"
        ours = examples[examples["cell"] == cell].sort_values("index")["robust"].to_numpy().astype(bool)
        assert len(ours) == len(dataset), cell
        np.testing.assert_array_equal(ours, robust.numpy(), err_msg=cell)
        compared += 1
    assert compared >= 20
    # The table is the per-example records aggregated.
    for _, row in result.table.iterrows():
        sub = examples[examples["cell"] == row["cell"]]
        assert row["correct"] == int(sub["robust"].sum()) and row["n"] == len(dataset)


def test_eps_zero_equals_clean_and_worst_case_is_the_minimum():
    model, dataset = make_dataset()
    table = run_bench(BenchConfig(dataset="toy", model="toy", n=None, attacks=("fgsm", "pgd"), eps=(0.0, 8 / 255),
                                  radii=(4,), steps=3), model=model, dataset=dataset).table
    for defense, group in table.groupby("defense"):
        clean = group[group["threat_model"] == "clean"]["accuracy"].iloc[0]
        at_zero = group[(group["eps"] == 0) & (group["threat_model"] != "clean")]
        assert (at_zero["accuracy"] == clean).all(), defense
    attacked = table[table["eps"] > 0]
    for (_, threat), group in attacked.groupby(["defense", "threat_model"]):
        worst = group[group["attack"] == "worst-case"]["accuracy"].iloc[0]
        assert worst <= group[group["attack"] != "worst-case"]["accuracy"].min()


class RoundToUint8(nn.Module):
    """A gradient-masking 'defense': quantising to 256 levels has zero gradient almost everywhere."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x * 255) / 255


def test_gradient_masking_fixture_is_caught():
    model, dataset = make_dataset()
    masking = DefenseSpec("custom", name="uint8", transform=RoundToUint8)
    result = run_bench(BenchConfig(dataset="toy", model="toy", n=None, attacks=("pgd", "bpda-pgd"), eps=(8 / 255,),
                                   steps=5), model=model, dataset=dataset, extra_defenses=[masking])
    checks = {c.name: c for c in run_checks(result.table, result.gradient_checks)}
    assert checks["nonzero-input-gradient"].status == "fail"
    assert "custom-uint8" in checks["nonzero-input-gradient"].detail
    assert checks["bpda-not-below-exact"].status == "fail"
    assert result.gradient_checks["none"]["zero_gradient"] == 0


def test_checks_pass_for_a_genuine_lowpass_defense():
    model, dataset = make_dataset()
    result = run_bench(BenchConfig(dataset="toy", model="toy", n=None, attacks=("fgsm", "pgd", "bpda-pgd"),
                                   eps=(2 / 255, 8 / 255), radii=(4,), steps=10), model=model, dataset=dataset)
    checks = {c.name: c.status for c in run_checks(result.table, result.gradient_checks)}
    assert checks["nonzero-input-gradient"] == "pass"
    assert checks["accuracy-monotone-in-eps"] == "pass"


def test_defended_pipeline_has_nonzero_input_gradient():
    model, dataset = make_dataset()
    x = dataset.to_float(dataset.images[:8]).requires_grad_(True)
    for defended in (LowPass(model, 3), smooth_first_conv(model, 1.0), smooth_first_conv(model, 1.0, normalize=True)):
        F.cross_entropy(defended(x), dataset.labels[:8]).backward()
        assert x.grad.abs().sum() > 0
        x.grad = None


def test_smooth_first_conv_leaves_the_callers_model_alone():
    model, _ = make_dataset()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    smoothed = smooth_first_conv(model, 1.0)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    assert not torch.equal(smoothed.conv1.weight, model.conv1.weight)
    assert torch.equal(smoothed.conv2.weight, model.conv2.weight)


def test_bpda_forward_is_exact_and_backward_is_identity():
    model, dataset = make_dataset()
    x = dataset.to_float(dataset.images[:4])
    exact, bpda = LowPass(model, 3), LowPass(model, 3, bpda=True)
    torch.testing.assert_close(exact(x), bpda(x))
    probe = InputTransform(nn.Identity(), RoundToUint8(), bpda=True)
    xg = x.clone().requires_grad_(True)
    probe(xg).sum().backward()
    torch.testing.assert_close(xg.grad, torch.ones_like(x))


def test_resume_from_checkpoint_gives_the_same_table(tmp_path):
    model, dataset = make_dataset()
    config = BenchConfig(dataset="toy", model="toy", n=None, attacks=("pgd",), eps=(4 / 255,), radii=(3,), steps=3,
                         batch_size=10)
    checkpoint = str(tmp_path / "partial.pt")
    calls = []

    def interrupt(done, total):
        calls.append(done)
        if done == 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_bench(config, model=model, dataset=dataset, checkpoint=checkpoint, progress=interrupt)
    state = torch.load(checkpoint, weights_only=True)
    assert state["rows"] == 20
    # a checkpoint of another model's run is not reused
    other = DoubleCNN().eval()
    with torch.no_grad():
        other.fc.bias += 5.0
    seen = []
    run_bench(config, model=other, dataset=dataset, checkpoint=checkpoint, progress=lambda d, t: seen.append(d))
    assert seen[0] == 0  # started from scratch, not from the other model's 20 rows
    with pytest.raises(KeyboardInterrupt):
        calls.clear()
        run_bench(config, model=model, dataset=dataset, checkpoint=checkpoint, progress=interrupt)
    seen.clear()
    resumed = run_bench(config, model=model, dataset=dataset, checkpoint=checkpoint,
                        progress=lambda d, t: seen.append(d))
    assert seen[0] == 20  # resumed after the two finished batches
    fresh = run_bench(config, model=model, dataset=dataset)
    assert resumed.table.equals(fresh.table)
    assert not (tmp_path / "partial.pt").exists()


def test_convergence_check_flags_a_weak_attack():
    from hfc_robust.bench.checks import convergence_check

    model, dataset = make_dataset(60)
    weak = run_bench(BenchConfig(dataset="toy", model="toy", n=None, attacks=("pgd",), eps=(16 / 255,), steps=1),
                     model=model, dataset=dataset)
    check = convergence_check(weak, model, dataset)
    assert check.status == "fail" and "points" in check.detail
    strong = run_bench(BenchConfig(dataset="toy", model="toy", n=None, attacks=("pgd",), eps=(32 / 255,), steps=20),
                       model=model, dataset=dataset)
    assert strong.table["accuracy"].iloc[-1] == 0.0  # nothing left to find: a converged attack passes
    assert convergence_check(strong, model, dataset).status == "pass"


def test_unbounded_check_passes_for_lowpass_and_fails_for_gradient_masking():
    from hfc_robust.bench.checks import unbounded_check

    model, dataset = make_dataset()
    honest = run_bench(BenchConfig(dataset="toy", model="toy", n=None, attacks=("pgd",), eps=(8 / 255,), radii=(3,),
                                   steps=5), model=model, dataset=dataset)
    assert unbounded_check(honest, model, dataset).status == "pass"
    masking = DefenseSpec("custom", name="uint8", transform=RoundToUint8)
    masked = run_bench(BenchConfig(dataset="toy", model="toy", n=None, attacks=("pgd",), eps=(8 / 255,), steps=5),
                       model=model, dataset=dataset, extra_defenses=[masking])
    check = unbounded_check(masked, model, dataset)
    assert check.status == "fail" and "custom" in check.detail


class BNNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(4)
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6 * 12 * 12, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn1(self.conv1(x))).flatten(1))


def test_bench_leaves_a_train_mode_model_untouched():
    """A model handed over in train mode is evaluated in eval mode (BatchNorm running
    statistics) and given back with the same weights, statistics and mode."""
    _, dataset = make_dataset()
    model = BNNet()
    with torch.no_grad():  # give BatchNorm running statistics that differ from batch statistics
        model.bn1.running_mean.fill_(0.3)
        model.bn1.running_var.fill_(2.0)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = BenchConfig(dataset="toy", model="toy", n=None, attacks=("fgsm", "pgd"), eps=(4 / 255,), radii=(3,),
                         rhos=(0.5,), steps=3)
    table = run_bench(config, model=model, dataset=dataset).table
    assert model.training and model.bn1.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    model.eval()
    with torch.no_grad():
        expected = (model(dataset.to_float(dataset.images)).argmax(1) == dataset.labels).float().mean().item()
    clean = table[(table["defense"] == "none") & (table["threat_model"] == "clean")]["accuracy"].iloc[0]
    assert clean == pytest.approx(expected)
