"""Attacks: torchattacks equivalence, an independent PGD, bounds, purity and batch independence."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchattacks

from hfc_robust.attacks import FGSM, PGD, attack_loss
from hfc_robust.errors import HfcError
from hfc_robust.ops.modes import eval_mode


def reference_pgd(model, x, y, eps, alpha, steps):
    """Independent textbook PGD (Madry et al.) without random start."""
    adv = x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y)
        (grad,) = torch.autograd.grad(loss, adv)
        adv = adv.detach() + alpha * grad.sign()
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1)
    return adv


def test_fgsm_is_one_exact_sign_step(tiny_model, tiny_batch):
    x, y = tiny_batch
    eps = 8 / 255
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(tiny_model(xg), y, reduction="sum"), xg)
    expected = (x + eps * grad.sign()).clamp(0, 1)
    adv = FGSM(tiny_model, eps)(x, y)
    torch.testing.assert_close(adv, expected, atol=0, rtol=0)
    torch.testing.assert_close(adv, torchattacks.FGSM(tiny_model, eps=eps)(x, y), atol=0, rtol=0)


def test_pgd_matches_torchattacks_and_independent_reference(tiny_model, tiny_batch):
    x, y = tiny_batch
    eps, alpha, steps = 8 / 255, 2 / 255, 10
    ours = PGD(tiny_model, eps, alpha, steps, random_start=False, early_stop=False)(x, y)
    theirs = torchattacks.PGD(tiny_model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
    reference = reference_pgd(tiny_model, x, y, eps, alpha, steps)
    assert (ours - theirs).abs().max() <= 1e-5
    assert (ours - reference).abs().max() <= 1e-5


@pytest.mark.parametrize("attack", ["fgsm", "pgd", "pgd-restarts", "pgd-margin"])
def test_bounds_purity_and_mode(tiny_model, tiny_batch, attack):
    x, y = tiny_batch
    eps = 4 / 255
    x_before, y_before = x.clone(), y.clone()
    tiny_model.train()
    tiny_model.conv2.eval()  # a mixed mode must be restored module by module
    atk = {
        "fgsm": lambda: FGSM(tiny_model, eps),
        "pgd": lambda: PGD(tiny_model, eps),
        "pgd-restarts": lambda: PGD(tiny_model, eps, restarts=3),
        "pgd-margin": lambda: PGD(tiny_model, eps, loss="margin"),
    }[attack]()
    adv = atk(x, y)
    assert torch.equal(x, x_before) and torch.equal(y, y_before)
    assert (adv - x).abs().max() <= eps + 1e-7
    assert adv.min() >= 0 and adv.max() <= 1
    assert tiny_model.training and not tiny_model.conv2.training and tiny_model.conv1.training


def test_attack_runs_model_in_eval_mode(tiny_batch):
    seen = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(144, 4)

        def forward(self, x):
            seen.append(self.training)
            return self.lin(x.flatten(1))

    model = Spy().train()
    PGD(model, 4 / 255, steps=3)(*tiny_batch)
    assert seen and not any(seen)
    assert model.training


def test_batch_and_slice_give_the_same_result(tiny_model, tiny_batch):
    x, y = tiny_batch
    ids = torch.arange(100, 116)
    attack = PGD(tiny_model, 8 / 255, steps=5, restarts=2, seed=7)
    full = attack(x, y, ids)
    for i in (0, 5, 15):
        single = attack(x[i : i + 1], y[i : i + 1], ids[i : i + 1])
        torch.testing.assert_close(full[i : i + 1], single, atol=1e-6, rtol=0)
    # a different seed gives a different random start
    other = PGD(tiny_model, 8 / 255, steps=1, seed=8, early_stop=False)(x, y, ids)
    assert not torch.equal(other, PGD(tiny_model, 8 / 255, steps=1, seed=7, early_stop=False)(x, y, ids))


def test_eps_zero_returns_the_input(tiny_model, tiny_batch):
    x, y = tiny_batch
    torch.testing.assert_close(PGD(tiny_model, 0.0)(x, y), x, atol=0, rtol=0)
    torch.testing.assert_close(FGSM(tiny_model, 0.0)(x, y), x, atol=0, rtol=0)


def test_first_success_is_kept_and_restarts_only_help(tiny_model, tiny_batch):
    x, y = tiny_batch
    eps = 6 / 255
    with torch.no_grad():
        one = tiny_model(PGD(tiny_model, eps, steps=5, seed=3)(x, y)).argmax(1) != y
        three = tiny_model(PGD(tiny_model, eps, steps=5, restarts=3, seed=3)(x, y)).argmax(1) != y
    assert torch.all(three | ~one), "an example broken with 1 restart must stay broken with 3"


def test_margin_loss_definition():
    logits = torch.tensor([[2.0, 1.0, 0.5], [0.0, 3.0, 1.0]])
    labels = torch.tensor([0, 2])
    # example 0: max other 1.0 - true 2.0 = -1; example 1: max other 3.0 - true 1.0 = 2
    assert attack_loss(logits, labels, "margin").item() == pytest.approx(1.0)
    assert attack_loss(logits, labels, "ce").item() == pytest.approx(
        F.cross_entropy(logits, labels, reduction="sum").item()
    )


def test_bad_attack_parameters():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(HfcError):
        PGD(model, 1.5)
    with pytest.raises(HfcError):
        PGD(model, restarts=2, random_start=False)
    with pytest.raises(HfcError):
        FGSM(model, loss="hinge")


def test_eval_mode_restores_flags(tiny_model):
    tiny_model.train()
    tiny_model.fc.eval()
    with eval_mode(tiny_model):
        assert not any(m.training for m in tiny_model.modules())
    assert tiny_model.training and not tiny_model.fc.training
