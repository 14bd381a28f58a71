"""AutoAttack and its components: bounds, purity, modes, seeding, the standard budgets, and
per-example equality with the reference implementation (``pyautoattack``: Croce & Hein's
AutoAttack), component by component on a tiny model here, and the whole ``autoattack`` row
through the engine on real models in the slow tests."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hfc_robust.attacks import APGD, APGDT, FABT, AutoAttack, AutoAttackFast, Square
from hfc_robust.attacks.base import frozen_parameters, logits_as_in
from hfc_robust.engine.evaluate import evaluate
from hfc_robust.spec import BenchSpec
from hfc_robust.threat import ThreatModel
from tests.conftest import TinyCNN
from tests.float_noise import ITERATE_ATOL, LOGIT_ATOL, LOGIT_RTOL, assert_outcomes_agree, outcome_allowance

reference = pytest.importorskip("pyautoattack", reason="pip install -e '.[test]' installs the reference AutoAttack")

EPS = {"linf": 8 / 255, "l2": 0.6}
ATTACKS = {
    "apgd-ce": lambda m, eps, norm: APGD(m, ThreatModel(norm, eps), steps=20),
    "apgd-t": lambda m, eps, norm: APGDT(m, ThreatModel(norm, eps), steps=10, num_classes=4),
    "fab-t": lambda m, eps, norm: FABT(m, ThreatModel(norm, eps), steps=10, num_classes=4),
    "square": lambda m, eps, norm: Square(m, ThreatModel(norm, eps), queries=50),
    "autoattack": lambda m, eps, norm: AutoAttack(m, ThreatModel(norm, eps), num_classes=4, queries=50, steps=10),
    "autoattack-fast": lambda m, eps, norm: AutoAttackFast(m, ThreatModel(norm, eps), num_classes=4),
}


def norms(delta: torch.Tensor, norm: str) -> torch.Tensor:
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "linf" else flat.norm(dim=1)


@pytest.fixture
def correct_batch(tiny_model):
    """48 random images labelled with the tiny model's own predictions: every one classified correctly."""
    x = torch.rand(48, 1, 12, 12, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        return x, tiny_model.eval()(x).argmax(1)


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("name", list(ATTACKS))
def test_bounds_purity_and_mode(tiny_model, tiny_batch, name, norm):
    x, y = tiny_batch
    eps = EPS[norm]
    before = (x.clone(), y.clone())
    tiny_model.train()
    tiny_model.conv2.eval()  # a mixed mode must be restored module by module
    grads = {n: p.requires_grad for n, p in tiny_model.named_parameters()}
    out = ATTACKS[name](tiny_model, eps, norm).run(x, y)
    assert torch.equal(x, before[0]) and torch.equal(y, before[1])
    assert norms(out.adversarial - x, norm).max() <= eps + 1e-5
    assert out.adversarial.min() >= 0 and out.adversarial.max() <= 1
    assert tiny_model.training and tiny_model.conv1.training and not tiny_model.conv2.training
    assert grads == {n: p.requires_grad for n, p in tiny_model.named_parameters()}  # parameters unfrozen again
    for candidate in out.transfers:
        assert norms(candidate - x, norm).max() <= eps + 1e-5


@pytest.mark.parametrize("name", list(ATTACKS))
def test_same_seed_same_result_and_the_callers_generator_is_untouched(tiny_model, tiny_batch, name):
    x, y = tiny_batch
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first = ATTACKS[name](tiny_model.eval(), 8 / 255, "linf").run(x, y).adversarial
    assert torch.equal(torch.random.get_rng_state(), state)  # the attack's seeding did not leak
    second = ATTACKS[name](tiny_model, 8 / 255, "linf").run(x, y).adversarial
    assert torch.equal(first, second)


def test_a_rows_logits_repeat_exactly_and_agree_across_batches_within_float_noise(tiny_model, correct_batch):
    """What the active sets rely on, as far as every CPU gives it (tests/float_noise.py): the same batch
    gives the same bits every time; a row's logits in a smaller batch, and a lone row padded as the
    reference's batch would hold it, agree with the full batch's within float32 rounding (the same
    bits on an AMD EPYC, not on an Intel AVX-512 Xeon, whose MKL and oneDNN kernels depend on the batch)."""
    x, _ = correct_batch
    with torch.no_grad():
        full = tiny_model(x)
        assert torch.equal(tiny_model(x), full)
        torch.testing.assert_close(tiny_model(x[5:9]), full[5:9], rtol=LOGIT_RTOL, atol=LOGIT_ATOL)
        torch.testing.assert_close(
            logits_as_in(tiny_model, x[7:8], batch=48), full[7:8], rtol=LOGIT_RTOL, atol=LOGIT_ATOL
        )
        # a lone row not padded takes another convolution path, yet still within float noise
        torch.testing.assert_close(tiny_model(x[7:8]), full[7:8], rtol=LOGIT_RTOL, atol=LOGIT_ATOL)


def test_the_float_noise_allowance():
    """The rule the reference comparisons use when batches differ: one differing outcome per 200, at
    least one, in either direction; more fails."""
    assert [outcome_allowance(n) for n in (1, 48, 199, 200, 399, 400, 1000)] == [1, 1, 1, 1, 1, 2, 5]
    same = np.array([True, False] * 100)
    assert_outcomes_agree(same, same)
    one = same.copy()
    one[3] = not one[3]
    assert_outcomes_agree(one, same)
    two = one.copy()
    two[4] = not two[4]
    with pytest.raises(AssertionError, match="2 of 200 outcomes differ"):
        assert_outcomes_agree(two, same)
    with pytest.raises(AssertionError):
        assert_outcomes_agree(same[:10], same)


def test_frozen_parameters_give_the_same_input_gradient_and_restore_the_flags(tiny_model, correct_batch):
    x, y = correct_batch
    tiny_model.fc.bias.requires_grad_(False)

    def gradient():
        z = x.clone().requires_grad_()
        return torch.autograd.grad(torch.nn.functional.cross_entropy(tiny_model(z), y), z)[0]

    free = gradient()
    with frozen_parameters(tiny_model):
        assert not any(p.requires_grad for p in tiny_model.parameters())
        assert torch.equal(gradient(), free)
    assert tiny_model.conv1.weight.requires_grad and not tiny_model.fc.bias.requires_grad


def _reference_component(name: str, model, eps: float, norm: str, steps: int, queries: int, rescale: bool):
    from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted
    from pyautoattack.fab_pt import FABAttack_PT
    from pyautoattack.square import SquareAttack

    norm = {"linf": "Linf", "l2": "L2"}[norm]
    if name == "apgd-ce":
        return APGDAttack(model, n_iter=steps, norm=norm, n_restarts=1, eps=eps, seed=0, device="cpu")
    if name == "apgd-t":
        return APGDAttack_targeted(
            model, n_iter=steps, norm=norm, n_restarts=1, eps=eps, seed=0, device="cpu", n_target_classes=3
        )
    if name == "fab-t":
        return FABAttack_PT(
            model,
            norm=norm,
            n_restarts=1,
            n_iter=steps,
            eps=eps,
            seed=0,
            device="cpu",
            targeted=True,
            n_target_classes=3,
        )
    return SquareAttack(
        model,
        p_init=0.8,
        n_queries=queries,
        eps=eps,
        norm=norm,
        n_restarts=1,
        seed=0,
        device="cpu",
        resc_schedule=rescale,
    )


COMPONENTS = [
    ("apgd-ce", "linf"),
    ("apgd-t", "linf"),
    ("fab-t", "linf"),
    ("square", "linf"),
    ("apgd-ce", "l2"),
    ("apgd-t", "l2"),
    ("fab-t", "l2"),
    ("square", "l2"),
]


@pytest.mark.parametrize("name,norm", COMPONENTS)
def test_each_component_breaks_exactly_the_examples_the_reference_breaks(tiny_model, correct_batch, name, norm):
    """Our APGD-CE, APGD-T, FAB-T and Square against the reference's classes on the same batch, same
    seed, same budget: the same examples are broken (within the float-noise allowance, since ours
    evaluate rows in other batches: tests/float_noise.py). Square's every query is the reference's,
    so its returned points are the reference's, but for examples where float noise decided a query."""
    x, y = correct_batch
    model = tiny_model.eval()
    if (name, norm) == ("square", "l2"):  # the reference's L2 Square needs sides of 5 s + 2 or less (s = side // 5)
        model = torch.nn.Sequential(torch.nn.ZeroPad2d(1), model).eval()
        x = x[..., 1:11, 1:11].contiguous()
        with torch.no_grad():
            y = model(x).argmax(1)
    eps = {"linf": 6 / 255, "l2": 0.35}[norm]
    steps, queries = 15, 400
    threat = ThreatModel(norm, eps)
    ours = (
        {
            "apgd-ce": APGD(model, threat, steps=steps),
            "apgd-t": APGDT(model, threat, steps=steps, num_classes=4),
            "fab-t": FABT(model, threat, steps=steps, num_classes=4),
            "square": Square(model, threat, queries=queries, rescale_schedule=False),
        }[name]
        .run(x, y)
        .adversarial
    )
    ref = _reference_component(name, model, eps, norm, steps, queries, rescale=False)
    with torch.no_grad() if name in ("fab-t", "square") else torch.enable_grad():
        theirs = ref.perturb(x.clone(), y.clone())
    with torch.no_grad():
        robust_ours, robust_theirs = model(ours).argmax(1) == y, model(theirs).argmax(1) == y
    assert 0 < int(robust_theirs.sum()) < len(y)  # the setting tells broken from robust examples
    assert_outcomes_agree(robust_ours.numpy(), robust_theirs.numpy())
    if name == "square":
        differing = (ours != theirs).flatten(1).any(1)
        assert int(differing.sum()) <= outcome_allowance(len(y)), int(differing.sum())


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("targeted", [False, True], ids=["ce", "targeted-dlr"])
def test_apgd_iterates_are_the_references_bit_for_bit(tiny_model, correct_batch, norm, targeted):
    """One APGD run against the reference's ``attack_single_run`` from the same generator state, on
    the same full batch: the same highest-loss iterates, losses, successes and last misclassified
    iterates, to the bit (the same computation on the same batch). With early stop (examples leave
    at their first success, so the rest run in smaller batches): the same successes, and iterates and
    losses of the examples never broken within float noise (tests/float_noise.py): the same bits on
    an AMD EPYC; on an Intel AVX-512 Xeon the L2 steps, which follow the raw gradient, drift by up to
    3e-4 over 20 steps."""
    from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted

    from hfc_robust.attacks.apgd_loop import apgd_single_run

    x, y = correct_batch
    model = tiny_model.eval()
    eps = {"linf": 6 / 255, "l2": 0.35}[norm]
    with torch.no_grad():
        targets = model(x).sort(1)[1][:, -2] if targeted else None
    ref = (APGDAttack_targeted if targeted else APGDAttack)(
        model, n_iter=20, norm={"linf": "Linf", "l2": "L2"}[norm], eps=eps, seed=0, device="cpu"
    )
    ref.init_hyperparam(x)
    ref.y_target = targets
    torch.manual_seed(0)
    best, robust, loss, last = ref.attack_single_run(x, y)
    assert 0 < int(robust.sum()) < len(y)
    torch.manual_seed(0)
    fooled, adversarial, ours_best, ours_loss, _ = apgd_single_run(
        model, x, y, ThreatModel(norm, eps), 20, targets, early_stop=False
    )
    assert torch.equal(~fooled, robust) and torch.equal(adversarial, last)
    assert torch.equal(ours_best, best) and torch.equal(ours_loss, loss)
    torch.manual_seed(0)
    fooled, _, ours_best, ours_loss, _ = apgd_single_run(
        model, x, y, ThreatModel(norm, eps), 20, targets, early_stop=True
    )
    assert_outcomes_agree(~fooled.numpy(), robust.numpy())
    both = robust & ~fooled
    torch.testing.assert_close(ours_best[both], best[both], rtol=0, atol=ITERATE_ATOL)
    torch.testing.assert_close(ours_loss[both], loss[both], rtol=ITERATE_ATOL, atol=ITERATE_ATOL)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_fab_finds_the_references_smallest_adversarial_norms(tiny_model, correct_batch, norm):
    """One targeted FAB run against the reference's ``attack_single_run``: with no eps to stop at,
    the smallest adversarial norm found per example is the reference's, to the bit (the forward
    passes it saves do not change a single iterate)."""
    from pyautoattack.fab_pt import FABAttack_PT

    from hfc_robust.attacks.fab import fab_targeted_run

    x, y = correct_batch
    model = tiny_model.eval()
    with torch.no_grad():
        targets = model(x).sort(1)[1][:, -2]
    ref = FABAttack_PT(
        model,
        norm={"linf": "Linf", "l2": "L2"}[norm],
        n_restarts=1,
        n_iter=15,
        eps=1.0,
        seed=0,
        device="cpu",
        targeted=True,
    )
    ref.target_class = 2
    with torch.no_grad():
        found_point = ref.attack_single_run(x, y, use_rand_start=False, is_targeted=True)
    found = (found_point != x).flatten(1).any(1)
    delta = (found_point - x).reshape(len(x), -1)
    theirs = delta.abs().max(dim=1)[0] if norm == "linf" else (delta**2).sum(dim=-1).sqrt()
    broken, _, smallest = fab_targeted_run(model, x, y, targets, ThreatModel(norm, 0.0), steps=15)
    assert bool(found.any()) and not broken.any()
    assert torch.equal(smallest[found], theirs[found]) and bool((smallest[~found] == 1e10).all())


def test_standalone_square_rescales_its_schedule_as_the_reference_does(tiny_model, correct_batch):
    """The stand-alone square row keeps the reference's default schedule rescaled to its budget."""
    x, y = correct_batch
    model = tiny_model.eval()
    ours = Square(model, 6 / 255, queries=150).run(x, y).adversarial
    with torch.no_grad():
        theirs = _reference_component("square", model, 6 / 255, "linf", 0, 150, rescale=True).perturb(x, y)
    assert torch.equal(ours, theirs)


def test_targets_are_the_nine_likeliest_wrong_classes_on_a_100_class_model(monkeypatch):
    """AutoAttack's APGD-T and FAB-T attack min(9, C - 1) targets: 9 on a 100-class model, the 9
    likeliest wrong classes of each example, not 99."""
    import hfc_robust.attacks.apgd as apgd
    import hfc_robust.attacks.fab as fab

    model = TinyCNN(classes=100).eval()
    x = torch.rand(6, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(x)
    y = logits.argmax(1)
    expected = [set(row[1:10].tolist()) for row in logits.argsort(1, descending=True)]
    seen: dict[str, list[set]] = {"apgd": [set() for _ in y], "fab": [set() for _ in y]}

    def spy(kind, run):
        def wrapped(model, images, labels, *args, **kwargs):
            targets = args[0] if kind == "fab" else args[2] if len(args) > 2 else None  # None: APGD-CE
            for image, target in zip(images, targets if targets is not None else []):
                seen[kind][int((x == image).flatten(1).all(1).nonzero()[0])].add(int(target))
            return run(model, images, labels, *args, **kwargs)

        return wrapped

    monkeypatch.setattr(apgd, "apgd_single_run", spy("apgd", apgd.apgd_single_run))
    monkeypatch.setattr(fab, "fab_targeted_run", spy("fab", fab.fab_targeted_run))
    attack = AutoAttack(model, 0.0, num_classes=100, steps=2, queries=2)  # eps 0: nothing breaks, every target runs
    attack.run(x, y)
    assert seen["apgd"] == expected and seen["fab"] == expected
    assert attack.budgets["apgd-t"]["targets"] == attack.budgets["fab-t"]["targets"] == 9


def test_cascade_stages_are_cumulative_and_timed(tiny_model, tiny_batch):
    x, y = tiny_batch
    out = ATTACKS["autoattack"](tiny_model.eval(), 8 / 255, "linf").run(x, y)
    assert [name for name, _, _ in out.stages] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert list(out.seconds) == ["apgd-ce", "apgd-t", "fab-t", "square"] and all(s >= 0 for s in out.seconds.values())
    robust = [int((pred == y).sum()) for _, _, pred in out.stages]
    assert robust == sorted(robust, reverse=True)
    with torch.no_grad():
        assert torch.equal(tiny_model(out.adversarial).argmax(1), out.predictions)


def test_autoattack_with_other_queries_is_refused_with_one_line(tmp_path):
    """`--attack autoattack --queries 100` does not make an `autoattack` row with 100 queries."""
    from click.testing import CliRunner

    from hfc_robust.cli import main
    from hfc_robust.errors import HfcError

    with pytest.raises(HfcError, match="standard 5000 queries"):
        BenchSpec(attacks=("autoattack",), queries=100)
    BenchSpec(attacks=("autoattack", "square"), queries=100)  # --queries is then the square row's
    result = CliRunner().invoke(
        main, ["bench", "--attack", "autoattack", "--queries", "100", "--n", "10", "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "run").exists()


def test_run_json_records_each_stage_budget_and_time(tmp_path):
    """run.json: the standard budgets of every stage and, per stage row, its wall time."""
    import hfc_robust as hr

    model = TinyCNN(classes=10).eval()
    x = torch.rand(12, 1, 12, 12, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        y = model(x).argmax(1)
    run = hr.benchmark(
        model, (x, y), attacks=("autoattack",), eps=(0.5,), radii=(3,), out=tmp_path / "run", spot_check=0
    )
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["attack_budgets"]["autoattack"] == {
        "apgd-ce": {"steps": 100, "restarts": 1},
        "apgd-t": {"steps": 100, "restarts": 1, "targets": 9},
        "fab-t": {"steps": 100, "restarts": 1, "targets": 9},
        "square": {"queries": 5000, "restarts": 1},
    }
    table = run.table[run.table["attack"].str.startswith("autoattack")]
    timed = table[table["threat_model"].isin(["whitebox", "adaptive"])]  # oblivious rows reuse the bare model's run
    assert len(timed) == 10 and set(record["attack_seconds"]) == set(timed["cell"])
    for _, rows in timed.groupby("threat_model"):
        stages = sum(
            record["attack_seconds"][cell] for cell, attack in zip(rows["cell"], rows["attack"]) if ":" in attack
        )
        total = record["attack_seconds"][rows[rows["attack"] == "autoattack"]["cell"].iloc[0]]
        assert total == pytest.approx(stages, abs=0.01)


# ---------------------------------------------------------------- real models, against the reference


def _reference_robust(module, x, y, eps, norm="Linf") -> np.ndarray:
    from pyautoattack import AutoAttack as Reference

    attack = Reference(module, eps=eps, norm=norm, seed=0, version="standard", device="cpu")
    adversarial, _ = attack.run_standard_evaluation(x, y, batch_size=250)
    with torch.no_grad():
        return (module(adversarial).max(1)[1] == y).numpy()


def _engine_and_reference(model_name, weights, dataset, n, radius, eps, norm="linf"):
    """The ``autoattack`` adaptive row through the engine, the reference's standard AutoAttack and
    ``autoattack-fast`` on the same images through the same ``LowPass`` module: robust per example."""
    import hfc_robust as hr

    data = hr.load_dataset(dataset, n)
    model = hr.load_model(model_name, weights)
    result = evaluate(
        BenchSpec(
            dataset=dataset,
            model=model_name,
            weights=weights,
            n=n,
            attacks=("autoattack",),
            eps=(eps,),
            norm=norm,
            radii=(radius,),
            spot_check=0,
        ),
        model=model,
        dataset=data,
    )
    row = result.table[(result.table["threat_model"] == "adaptive") & (result.table["attack"] == "autoattack")]
    _, ours = result.outcomes(row["cell"].iloc[0])
    defended = hr.LowPass(model, radius).eval()
    x, y = data.to_float(data.images), data.labels
    fast = AutoAttackFast(defended, ThreatModel(norm, eps)).run(x, y).predictions == y
    return ours, _reference_robust(defended, x, y, eps, {"linf": "Linf", "l2": "L2"}[norm]), fast.numpy()


SETTINGS = {
    "fmnist-cnn r=8 8/255": ("fmnist-cnn", None, "fmnist", 200, 8.0, 8 / 255),
    "resnet20 r=8 1/255": ("resnet20", "RESNET20", "CIFAR", 100, 8.0, 1 / 255),
    # the third setting, for autoattack-fast (APGD-T breaks examples APGD-CE left); 100 images keep
    # CI's slow tests within minutes (benchmarks/README.md has n = 200)
    "cifar10-small-at r=8 8/255": ("cifar10-small-at", None, "CIFAR", 100, 8.0, 8 / 255),
}


def _setting(name):
    from tests.conftest import CIFAR_NPZ, RESNET20

    model, weights, dataset, n, radius, eps = SETTINGS[name]
    if dataset == "CIFAR":
        if not (CIFAR_NPZ.is_file() and RESNET20.is_file()):
            pytest.skip(f"shared CIFAR-10 data/models not found under {CIFAR_NPZ.parents[2]}")
        dataset = f"npz:{CIFAR_NPZ}"
    if weights == "RESNET20":
        weights = str(RESNET20)
    return model, weights, dataset, n, radius, eps


@pytest.mark.slow
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_autoattack_row_equals_the_reference_and_fast_keeps_its_strength(setting):
    """The ``autoattack`` adaptive row, through the engine, against the reference's standard
    AutoAttack on the same images through the same LowPass module: the same examples robust, within
    the float-noise allowance (tests/float_noise.py; identical on the AMD EPYC and the Intel AVX-512
    Xeon measured). ``autoattack-fast`` leaves at most 1 more robust example per 200 than the standard."""
    model, weights, dataset, n, radius, eps = _setting(setting)
    ours, theirs, fast = _engine_and_reference(model, weights, dataset, n, radius, eps)
    assert 0 < theirs.sum() < len(theirs)
    assert_outcomes_agree(ours, theirs)
    assert not (fast & ~ours).sum() > max(1, len(ours) // 200), (int(fast.sum()), int(ours.sum()))


@pytest.mark.slow
def test_l2_autoattack_row_equals_the_reference():
    """The standard L2 ensemble, as the engine's ``--norm l2`` ``autoattack`` adaptive row through
    LowPass r=8 on ResNet-20, against the reference's L2 version on the same 50 images. At eps 0.1
    (the L2 radius on the [0, 1] scale) some examples survive every stage; at 0.5 none does
    (REPRODUCTION.md, section 7), which would make the comparison empty."""
    model, weights, dataset, _, radius, _ = _setting("resnet20 r=8 1/255")
    ours, theirs, fast = _engine_and_reference(model, weights, dataset, 50, radius, 0.1, norm="l2")
    assert 0 < theirs.sum() < len(theirs)
    assert_outcomes_agree(ours, theirs)
    assert not (fast & ~ours).sum() > 1, (int(fast.sum()), int(ours.sum()))
