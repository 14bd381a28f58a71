"""Harness behaviour: eps 0, worst case, gradient masking, BPDA, resume, convergence and unbounded checks.

The comparison with an independent naive loop is in test_grid.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from hfc_robust.checks.paired import run_checks
from hfc_robust.data.dataset import ImageDataset
from hfc_robust.defenses import DefenseSpec, InputTransform, LowPass, smooth_first_conv
from hfc_robust.engine.evaluate import evaluate
from hfc_robust.errors import HfcWarning
from hfc_robust.spec import BenchSpec
from tests import reference


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


def test_eps_zero_equals_clean_and_worst_case_is_the_minimum():
    model, dataset = make_dataset()
    table = evaluate(
        BenchSpec(dataset="toy", model="toy", n=None, attacks=("fgsm", "pgd"), eps=(0.0, 8 / 255), radii=(4,), steps=3),
        model=model,
        dataset=dataset,
    ).table
    for defense, group in table.groupby("defense"):
        clean = group[group["threat_model"] == "clean"]["accuracy"].iloc[0]
        at_zero = group[(group["eps"] == 0) & (group["threat_model"] != "clean")]
        assert (at_zero["accuracy"] == clean).all(), defense
    attacked = table[table["eps"] > 0]
    for _, group in attacked.groupby(["defense", "threat_model"]):
        worst = group[group["attack"] == "worst-case"]["accuracy"].iloc[0]
        assert worst <= group[group["attack"] != "worst-case"]["accuracy"].min()


class RoundToUint8(nn.Module):
    """A gradient-masking 'defense': quantising to 256 levels has zero gradient almost everywhere."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x * 255) / 255


def test_gradient_masking_fixture_is_caught():
    model, dataset = make_dataset()
    masking = DefenseSpec("custom", name="uint8", transform=RoundToUint8)
    result = evaluate(
        BenchSpec(dataset="toy", model="toy", n=None, attacks=("pgd", "bpda-pgd"), eps=(8 / 255,), steps=5),
        model=model,
        dataset=dataset,
        extra_defenses=[masking],
    )
    checks = {c.name: c for c in run_checks(result.table, result.gradient_checks, outcomes=result.outcomes)}
    assert checks["nonzero-input-gradient"].status == "fail"
    assert "custom-uint8" in checks["nonzero-input-gradient"].detail
    assert checks["bpda-not-below-exact"].status == "fail"
    assert result.gradient_checks["none"]["zero_gradient"] == 0


def test_the_gradient_check_counts_where_each_attack_took_its_first_step():
    """FGSM steps from the clean input; PGD from its random start, on the examples the start did not
    already fool (early stop), or on all of them when oblivious rows need its full budget. The
    expected counts come from tests/reference.py's random starts, not from the package."""
    model, dataset = make_dataset()
    x, y = dataset.to_float(dataset.images), dataset.labels
    correct = reference.predict(model, x) == y
    start = reference.random_start(x, list(range(len(y))), 0.25, 0, 0)
    standing = correct & (reference.predict(model, start) == y)
    assert int(standing.sum()) < int(correct.sum())  # the start fools some: the two rules differ here
    bare = evaluate(
        BenchSpec(dataset="toy", model="toy", n=None, attacks=("fgsm", "pgd"), eps=(0.25,), radii=(), steps=3, seed=0),
        model=model,
        dataset=dataset,
    )
    assert bare.gradient_checks == {"none": {"checked": int(correct.sum()) + int(standing.sum()), "zero_gradient": 0}}
    defended = evaluate(
        BenchSpec(dataset="toy", model="toy", n=None, attacks=("pgd",), eps=(0.25,), radii=(3,), steps=3, seed=0),
        model=model,
        dataset=dataset,
    )
    assert defended.gradient_checks["none"]["checked"] == int(correct.sum())  # full budget for the oblivious row
    square = evaluate(
        BenchSpec(dataset="toy", model="toy", n=None, attacks=("square",), eps=(0.25,), radii=(), queries=20, seed=0),
        model=model,
        dataset=dataset,
    )
    status = {c.name: c.status for c in run_checks(square.table, square.gradient_checks, outcomes=square.outcomes)}
    assert status["nonzero-input-gradient"] == "skipped"  # no gradient attack took a step


def test_checks_pass_for_a_genuine_lowpass_defense():
    model, dataset = make_dataset()
    result = evaluate(
        BenchSpec(
            dataset="toy",
            model="toy",
            n=None,
            attacks=("fgsm", "pgd", "bpda-pgd"),
            eps=(2 / 255, 8 / 255),
            radii=(4,),
            steps=10,
        ),
        model=model,
        dataset=dataset,
    )
    checks = {c.name: c.status for c in run_checks(result.table, result.gradient_checks, outcomes=result.outcomes)}
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


def _interrupted_run(config, model, dataset, checkpoint, interrupt=None) -> None:
    """A run stopped (Ctrl-C) by ``interrupt(done, total, text)``, by default after its first 20
    images, leaving what it finished in ``checkpoint``."""

    def after_20(done, total, text=None):
        if done == 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(config, model=model, dataset=dataset, checkpoint=str(checkpoint), progress=interrupt or after_20)


def test_resume_from_checkpoint_gives_the_same_table(tmp_path):
    model, dataset = make_dataset()
    config = BenchSpec(
        dataset="toy", model="toy", n=None, attacks=("pgd",), eps=(4 / 255,), radii=(3,), steps=3, batch_size=10
    )
    checkpoint = tmp_path / "partial"

    _interrupted_run(config, model, dataset, checkpoint)
    chunks = sorted(checkpoint.glob("chunk-*.npz"))
    assert [p.name for p in chunks] == ["chunk-0000000000.npz", "chunk-0000000010.npz"]  # one file per finished batch
    written = {p: p.stat().st_mtime_ns for p in chunks}
    # a checkpoint of another model's run is not reused
    other = DoubleCNN().eval()
    with torch.no_grad():
        other.fc.bias += 5.0
    seen = []
    evaluate(
        config, model=other, dataset=dataset, checkpoint=str(checkpoint), progress=lambda d, t, x=None: seen.append(d)
    )
    assert seen[0] == 0  # started from scratch, not from the other model's 20 rows
    _interrupted_run(config, model, dataset, checkpoint)
    written = {p: p.stat().st_mtime_ns for p in sorted(checkpoint.glob("chunk-*.npz"))}
    seen.clear()
    messages = []
    resumed = evaluate(
        config,
        model=model,
        dataset=dataset,
        checkpoint=str(checkpoint),
        progress=lambda d, t, x=None: seen.append(d),
        notify=messages.append,
    )
    assert seen[0] == 20 and resumed.resumed_rows == 20  # resumed after the two finished batches
    assert messages == [f"resuming from 20 of 40 images (finished batches in {checkpoint})"]
    for path, stamp in written.items():  # append-only: finished chunks are never rewritten
        assert path.stat().st_mtime_ns == stamp
    fresh = evaluate(config, model=model, dataset=dataset)
    assert resumed.table.equals(fresh.table)
    assert resumed.examples.equals(fresh.examples)
    resumed.store.remove()  # the caller removes it once the results are written
    assert not checkpoint.exists()


def test_a_checkpoint_from_another_device_type_is_not_mixed_in(tmp_path):
    """Chunks computed on a GPU are not resumed by a CPU run (float noise would differ between the
    halves of one table): the run says so and starts again, and gives the fresh table."""
    from hfc_robust.engine.checkpoint import OutcomeStore
    from hfc_robust.engine.loop import DEVICE_ARRAY

    model, dataset = make_dataset()
    config = BenchSpec(
        dataset="toy", model="toy", n=None, attacks=("pgd",), eps=(4 / 255,), radii=(3,), steps=2, batch_size=10
    )
    checkpoint = tmp_path / "partial"

    _interrupted_run(config, model, dataset, checkpoint)
    store = OutcomeStore.existing(checkpoint)
    assert [str(store.read(start, DEVICE_ARRAY)) for start in store.starts] == ["cpu", "cpu"]
    for start in store.starts:  # as if a GPU had computed them
        store.append(start, {**store.chunk(start), DEVICE_ARRAY: np.array("cuda")})
    seen = []
    with pytest.warns(HfcWarning, match="computed on cuda, this run uses cpu"):
        resumed = evaluate(
            config,
            model=model,
            dataset=dataset,
            checkpoint=str(checkpoint),
            progress=lambda d, t, x=None: seen.append(d),
        )
    assert seen[0] == 0 and resumed.resumed_rows == 0
    assert resumed.table.equals(evaluate(config, model=model, dataset=dataset).table)


def test_convergence_check_flags_a_weak_attack():
    from hfc_robust.checks.optional import convergence_check

    model, dataset = make_dataset(60)
    weak = evaluate(
        BenchSpec(dataset="toy", model="toy", n=None, attacks=("pgd",), eps=(16 / 255,), steps=1),
        model=model,
        dataset=dataset,
    )
    check = convergence_check(weak, model, dataset)
    assert check.status == "fail" and "points" in check.detail
    strong = evaluate(
        BenchSpec(dataset="toy", model="toy", n=None, attacks=("pgd",), eps=(32 / 255,), steps=20),
        model=model,
        dataset=dataset,
    )
    assert strong.table["accuracy"].iloc[-1] == 0.0  # nothing left to find: a converged attack passes
    assert convergence_check(strong, model, dataset).status == "pass"


def test_unbounded_check_passes_for_lowpass_and_fails_for_gradient_masking():
    from hfc_robust.checks.optional import unbounded_check

    model, dataset = make_dataset()
    honest = evaluate(
        BenchSpec(dataset="toy", model="toy", n=None, attacks=("pgd",), eps=(8 / 255,), radii=(3,), steps=5),
        model=model,
        dataset=dataset,
    )
    assert unbounded_check(honest, model, dataset).status == "pass"
    masking = DefenseSpec("custom", name="uint8", transform=RoundToUint8)
    masked = evaluate(
        BenchSpec(dataset="toy", model="toy", n=None, attacks=("pgd",), eps=(8 / 255,), steps=5),
        model=model,
        dataset=dataset,
        extra_defenses=[masking],
    )
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
    config = BenchSpec(
        dataset="toy", model="toy", n=None, attacks=("fgsm", "pgd"), eps=(4 / 255,), radii=(3,), rhos=(0.5,), steps=3
    )
    table = evaluate(config, model=model, dataset=dataset).table
    assert model.training and model.bn1.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    model.eval()
    with torch.no_grad():
        expected = (model(dataset.to_float(dataset.images)).argmax(1) == dataset.labels).float().mean().item()
    clean = table[(table["defense"] == "none") & (table["threat_model"] == "clean")]["accuracy"].iloc[0]
    assert clean == pytest.approx(expected)


def test_spot_check_leaves_a_train_mode_model_untouched():
    from hfc_robust.checks.spotcheck import SpotBudget, spot_check

    _, dataset = make_dataset()
    model = BNNet().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = BenchSpec(dataset="toy", model="toy", n=None, attacks=("pgd",), eps=(8 / 255,), steps=2, spot_check=5)
    result = evaluate(config, model=model, dataset=dataset)
    check = spot_check(result, result.modules, dataset, config.spot_check, budget=SpotBudget(steps=5, queries=20))
    assert check.status in ("pass", "warn", "fail") and check.data["rows"][0]["sampled"] > 0
    assert model.training and model.bn1.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_a_slow_batch_saves_finished_attack_runs_and_resumes_inside_the_batch(tmp_path, monkeypatch):
    """With units saved after every attack run (the 30 s interval set to 0), an interruption in the
    middle of the only batch keeps the finished runs; the resumed run skips them and gives the
    same files as an uninterrupted run."""
    import hfc_robust.engine.attack_batch as batch

    monkeypatch.setattr(batch, "CHECKPOINT_SECONDS", 0.0)
    model, dataset = make_dataset()
    config = BenchSpec(
        dataset="toy",
        model="toy",
        n=None,
        attacks=("fgsm", "pgd"),
        eps=(4 / 255, 8 / 255),
        radii=(3,),
        steps=3,
        batch_size=40,
    )
    checkpoint = tmp_path / "partial"
    texts = []

    def interrupt(done, total, text=None):
        texts.append(text)
        if text and text.startswith("pgd eps=4"):
            raise KeyboardInterrupt

    _interrupted_run(config, model, dataset, checkpoint, interrupt)
    assert not list(checkpoint.glob("chunk-*.npz"))  # the batch never finished
    assert len(list(checkpoint.glob("units-*.npz"))) == 4  # fgsm at two eps: bare and adaptive runs
    seen = []
    resumed = evaluate(
        config,
        model=model,
        dataset=dataset,
        checkpoint=str(checkpoint),
        progress=lambda d, t, text=None: seen.append(text),
    )
    assert not any(text and text.startswith("fgsm") for text in seen)  # the saved runs were not repeated
    assert any(text and text.startswith("pgd eps=4") for text in seen)
    assert not list(checkpoint.glob("units-*.npz"))  # dropped once the batch's chunk is written
    fresh = evaluate(config, model=model, dataset=dataset)
    assert resumed.table.equals(fresh.table) and resumed.examples.equals(fresh.examples)
    assert resumed.gradient_checks == fresh.gradient_checks  # the saved runs' gradient counts are restored too
    assert fresh.gradient_checks["none"]["checked"] > 0


def test_a_batch_with_no_correctly_classified_example_runs():
    """A batch where every example is misclassified clean leaves nothing to attack or to add to a
    spectrum: its rows are all non-robust, and the run does not stop (MKL's FFT refuses an empty
    batch, so the low-pass filter and the spectrum sums must not call it on one)."""
    model, dataset = make_dataset(20)
    with torch.no_grad():
        wrong = (model(dataset.images[:10]).argmax(1) + 1) % 4
    dataset.labels[:10] = wrong  # the first batch: every example misclassified by the bare model
    config = BenchSpec(
        dataset="toy", model="toy", n=None, attacks=("fgsm", "pgd"), eps=(8 / 255,), radii=(4,), steps=2, batch_size=10
    )
    result = evaluate(config, model=model, dataset=dataset)
    for cell in result.cells:
        if cell.defense == "none":
            _, robust = result.outcomes(cell)
            assert not robust[:10].any(), cell.key
