"""AutoAttack's components behind the adapter: bounds, purity, modes, seeding, equality with
torchattacks called directly, and the cascade against torchattacks' own AutoAttack."""

from __future__ import annotations

import pytest
import torch
import torchattacks

from hfc_robust.attacks import APGD, APGDT, FABT, AutoAttack, Square

ATTACKS = {
    "apgd-ce": lambda m, eps: APGD(m, eps, steps=20),
    "apgd-t": lambda m, eps: APGDT(m, eps, steps=10, num_classes=4),
    "fab-t": lambda m, eps: FABT(m, eps, steps=10, num_classes=4),
    "square": lambda m, eps: Square(m, eps, queries=50),
    "autoattack": lambda m, eps: AutoAttack(m, eps, num_classes=4, queries=50, steps=10),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_bounds_purity_and_mode(tiny_model, tiny_batch, name):
    x, y = tiny_batch
    eps = 6 / 255
    before = (x.clone(), y.clone())
    tiny_model.train()
    tiny_model.conv2.eval()  # a mixed mode must be restored module by module
    out = ATTACKS[name](tiny_model, eps).run(x, y)
    assert torch.equal(x, before[0]) and torch.equal(y, before[1])
    assert (out.adversarial - x).abs().max() <= eps + 1e-6
    assert out.adversarial.min() >= 0 and out.adversarial.max() <= 1
    assert tiny_model.training and tiny_model.conv1.training and not tiny_model.conv2.training
    for candidate in out.transfers:
        assert (candidate - x).abs().max() <= eps + 1e-6


@pytest.mark.parametrize("name", list(ATTACKS))
def test_same_seed_same_result_and_the_callers_generator_is_untouched(tiny_model, tiny_batch, name):
    x, y = tiny_batch
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first = ATTACKS[name](tiny_model.eval(), 8 / 255).run(x, y).adversarial
    assert torch.equal(torch.random.get_rng_state(), state)  # torchattacks' manual_seed did not leak
    second = ATTACKS[name](tiny_model, 8 / 255).run(x, y).adversarial
    assert torch.equal(first, second)


def test_apgd_equals_torchattacks_apgd_on_the_same_batch(tiny_model, tiny_batch):
    x, y = tiny_batch
    model = tiny_model.eval()
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    x, y = x[correct], y[correct]  # torchattacks attacks only the correctly classified examples
    ours = APGD(model, 8 / 255, steps=20, seed=4).run(x, y).adversarial
    theirs = torchattacks.APGD(model, norm="Linf", eps=8 / 255, steps=20, n_restarts=1, seed=4, loss="ce")(x, y)
    with torch.no_grad():
        fooled_ours, fooled_theirs = model(ours).argmax(1) != y, model(theirs).argmax(1) != y
    assert torch.equal(fooled_ours, fooled_theirs) and bool(fooled_theirs.any())
    torch.testing.assert_close(ours[fooled_theirs], theirs[fooled_theirs], atol=0, rtol=0)


def test_cascade_stages_are_cumulative(tiny_model, tiny_batch):
    x, y = tiny_batch
    out = ATTACKS["autoattack"](tiny_model.eval(), 8 / 255).run(x, y)
    assert [name for name, _, _ in out.stages] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    robust = [int((pred == y).sum()) for _, _, pred in out.stages]
    assert robust == sorted(robust, reverse=True)
    with torch.no_grad():
        assert torch.equal(tiny_model(out.adversarial).argmax(1), out.predictions)


@pytest.mark.slow
def test_autoattack_row_matches_torchattacks_autoattack_and_is_below_pgd():
    """`bench --attack pgd,autoattack --radius 8` on the default model: the adaptive AutoAttack row is
    at most the PGD-10 row, and within 1 point (or 1 example) of torchattacks' AutoAttack(version
    'standard') run directly on LowPass(model, 8) over the same images."""
    from hfc_robust import LowPass, load_dataset, load_model
    from hfc_robust.bench.config import BenchConfig
    from hfc_robust.bench.engine import run_grid

    n = 80
    model = load_model("fmnist-cnn")
    data = load_dataset("fmnist", n)
    table = run_grid(BenchConfig(n=n, attacks=("pgd", "autoattack"), radii=(8.0,), spot_check=0)).table
    adaptive = table[(table["threat_model"] == "adaptive")].set_index("attack")["correct"]
    x, y = data.to_float(data.images), data.labels
    defended = LowPass(model, 8).eval()
    reference = torchattacks.AutoAttack(defended, norm="Linf", eps=8 / 255, version="standard", n_classes=10, seed=0)
    adv = reference(x, y)
    with torch.no_grad():
        theirs = int((defended(adv).argmax(1) == y).sum())
    ours = int(adaptive["autoattack"])
    assert ours <= int(adaptive["pgd"])
    assert abs(ours - theirs) <= max(1, round(0.01 * n)), (ours, theirs)
