"""The L2 threat model (``--norm l2``, issue 18).

FGM, L2 PGD and BPDA-PGD are checked against an independent numpy transcription of the L2 step
and projection (below; it imports nothing from hfc_robust), on a linear model whose loss
gradient has a closed form: the attack classes directly, and the engine's rows (per-example
outcomes and the perturbations' energy, via Parseval on the run's perturbation spectra). Then
the per-norm eps defaults and their exit-2 cases, ``--min-eps`` under L2 against the exact
distance to a linear decision boundary, and the norm in every row, table, plot, comparison and
leaderboard.
"""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
from click.testing import CliRunner
from scipy import stats

import hfc_robust as hr
from hfc_robust.attacks import FGSM, PGD
from hfc_robust.cells import Cell
from hfc_robust.cli import main
from hfc_robust.errors import HfcError
from hfc_robust.results.compare import compare_paths
from hfc_robust.results.html import render_report_html
from hfc_robust.results.leaderboard import build_leaderboard, render_leaderboard
from hfc_robust.results.render import render_table
from hfc_robust.spec import BenchSpec
from hfc_robust.threat import Norm, ThreatModel

SIDE = 8  # 1 x 8 x 8 images
CLASSES = 3
RADIUS = 2
EPS = 0.2  # L2 radius on the [0, 1] scale: about the median distance to the linear model's boundary
STEPS = 6


class Linear(nn.Module):
    """``logits = W x + b`` on flattened images: the loss gradient has a closed form."""

    def __init__(self, pixels: int = SIDE * SIDE, classes: int = CLASSES, seed: int = 0, scale: float = 1.0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.fc = nn.Linear(pixels, classes)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(classes, pixels, generator=generator) * scale)
            self.fc.bias.copy_(torch.randn(classes, generator=generator) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def make_data(
    model: nn.Module, n: int = 24, seed: int = 1, shape=(1, SIDE, SIDE), low: float = 0.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [low, 1 - low], labelled with the model's own clean prediction (so every example is
    attacked), keeping only clear decisions (top-2 logit gap > 0.05) so that float32 and float64 agree."""
    generator = torch.Generator().manual_seed(seed)
    images = low + (1 - 2 * low) * torch.rand(4 * n, *shape, generator=generator)
    with torch.no_grad():
        top = model(images).topk(2, dim=1)
    clear = (top.values[:, 0] - top.values[:, 1]) > 0.05
    return images[clear][:n], top.indices[clear, 0][:n]


# ------------------------------------------------------------------ the numpy reference (no hfc_robust)


def np_params(model: Linear) -> tuple[np.ndarray, np.ndarray]:
    return model.fc.weight.detach().double().numpy(), model.fc.bias.detach().double().numpy()


def np_logits(params, x: np.ndarray) -> np.ndarray:
    weight, bias = params
    return x.reshape(len(x), -1) @ weight.T + bias


def np_ce_gradient(params, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d/dx of sum_i CE(W x_i + b, y_i): W^T (softmax(z_i) - onehot(y_i)), per example."""
    z = np_logits(params, x)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return (p @ params[0]).reshape(x.shape)


def np_norms(v: np.ndarray) -> np.ndarray:
    return np.sqrt((v.reshape(len(v), -1) ** 2).sum(1)).reshape(-1, *([1] * (v.ndim - 1)))


def np_unit(g: np.ndarray) -> np.ndarray:
    """g / ||g||_2 per example; zero where g is zero."""
    n = np_norms(g)
    return np.where(n > 0, g / np.where(n > 0, n, 1.0), 0.0)


def np_project(delta: np.ndarray, eps: float) -> np.ndarray:
    """Euclidean projection onto the L2 ball of radius eps: delta * min(1, eps / ||delta||)."""
    n = np_norms(delta)
    return delta * np.minimum(1.0, eps / np.where(n > 0, n, 1.0))


def np_lowpass(x: np.ndarray, radius: float) -> np.ndarray:
    """The paper's low-pass: keep the centred spectrum's bins at distance <= r from (H//2, W//2)."""
    height, width = x.shape[-2:]
    rows, cols = np.arange(height) - height // 2, np.arange(width) - width // 2
    mask = np.hypot(rows[:, None], cols[None, :]) <= radius
    spectrum = np.fft.fftshift(np.fft.fft2(x), axes=(-2, -1)) * mask
    return np.real(np.fft.ifft2(np.fft.ifftshift(spectrum, axes=(-2, -1))))


def np_fgm(gradient, x, y, eps):
    return np.clip(x + eps * np_unit(gradient(x, y)), 0.0, 1.0)


def np_pgd(gradient, predict, x, y, eps, alpha, steps, early_stop=True):
    """L2 PGD without random start: x_{t+1} = clip(x + P(x_t + alpha g/||g|| - x), 0, 1).
    Returns (first misclassified iterate or the last one, fooled, last iterate)."""
    cur, adv = x.copy(), x.copy()
    fooled = np.zeros(len(x), bool)
    for step in range(steps + 1):
        newly = (predict(cur) != y) & ~fooled
        adv[newly], fooled = cur[newly], fooled | newly
        if step == steps:
            break
        moving = ~fooled if early_stop else np.ones(len(x), bool)
        stepped = np.clip(x + np_project(cur + alpha * np_unit(gradient(cur, y)) - x, eps), 0.0, 1.0)
        cur = np.where(moving[:, None, None, None], stepped, cur)
    adv[~fooled] = cur[~fooled]
    return adv, fooled, cur


# ------------------------------------------------------------------ the attack classes


@pytest.fixture(scope="module")
def linear():
    model = Linear().eval()
    images, labels = make_data(model)
    return model, images, labels, np_params(model)


def test_fgm_is_one_normalised_gradient_step(linear):
    model, x, y, params = linear
    ours = FGSM(model, ThreatModel("l2", EPS))(x, y).double().numpy()
    reference = np_fgm(lambda v, t: np_ce_gradient(params, v, t), x.double().numpy(), y.numpy(), EPS)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    norms = np_norms(ours - x.double().numpy()).ravel()
    assert (norms <= EPS * (1 + 1e-6)).all()
    unclipped = ((reference > 0) & (reference < 1)).reshape(len(x), -1).all(1)
    assert unclipped.sum() >= 10 and np.allclose(norms[unclipped], EPS, rtol=1e-5)  # a full eps step, not a sign step


@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_fgm_margin_loss_uses_the_same_l2_step(linear, loss):
    model, x, y, _ = linear
    adv = FGSM(model, ThreatModel("l2", EPS), loss=loss)(x, y)
    assert float((adv - x).flatten(1).norm(dim=1).max()) <= EPS * (1 + 1e-6)
    assert adv.min() >= 0 and adv.max() <= 1


@pytest.mark.parametrize("alpha", [None, 0.05])
def test_l2_pgd_matches_numpy_and_torchattacks(linear, alpha):
    import torchattacks

    model, x, y, params = linear
    steps = 12
    step = alpha if alpha is not None else 2.5 * EPS / steps  # the documented default
    ours = PGD(model, ThreatModel("l2", EPS), alpha, steps=steps, random_start=False, early_stop=False)(x, y)
    _, _, reference = np_pgd(
        lambda v, t: np_ce_gradient(params, v, t),
        lambda v: np_logits(params, v).argmax(1),
        x.double().numpy(),
        y.numpy(),
        EPS,
        step,
        steps,
        early_stop=False,
    )
    np.testing.assert_allclose(ours.double().numpy(), reference, atol=1e-5)
    theirs = torchattacks.PGDL2(model, eps=EPS, alpha=step, steps=steps, random_start=False)(x, y)
    assert float((ours - theirs).abs().max()) <= 1e-5
    assert float((ours - x).flatten(1).norm(dim=1).max()) <= EPS * (1 + 1e-6)


@pytest.mark.parametrize("target", ["bare", "lowpass", "bpda"])
def test_l2_pgd_first_success_matches_numpy(linear, target):
    """PGD (bare), PGD through the low-pass filter (exact gradients) and BPDA-PGD (identity backward
    through the filter), each against the numpy reference."""
    from hfc_robust.defenses import LowPass

    model, x, y, params = linear
    attacked = {"bare": model, "lowpass": LowPass(model, RADIUS), "bpda": LowPass(model, RADIUS, bpda=True)}[target]
    if target == "bare":
        gradient, predict = (lambda v, t: np_ce_gradient(params, v, t)), (lambda v: np_logits(params, v).argmax(1))
    else:
        predict = lambda v: np_logits(params, np_lowpass(v, RADIUS)).argmax(1)
        if target == "lowpass":  # the filter is a real, even convolution: its own adjoint
            gradient = lambda v, t: np_lowpass(np_ce_gradient(params, np_lowpass(v, RADIUS), t), RADIUS)
        else:
            gradient = lambda v, t: np_ce_gradient(params, np_lowpass(v, RADIUS), t)
    keep = predict(x.double().numpy()) == y.numpy()  # the engine attacks only clean-correct examples
    x, y = x[torch.as_tensor(keep)], y[torch.as_tensor(keep)]
    eps = {"bare": EPS, "lowpass": 0.5, "bpda": 1.0}[target]  # the filter removes most of the gradient
    attack = PGD(attacked, ThreatModel("l2", eps), steps=STEPS, random_start=False)
    adv = attack(x, y)
    reference, fooled, _ = np_pgd(gradient, predict, x.double().numpy(), y.numpy(), eps, 2.5 * eps / STEPS, STEPS)
    assert 0 < fooled.sum() < len(y)  # the test sees both outcomes
    np.testing.assert_allclose(adv.double().numpy(), reference, atol=1e-5)
    np.testing.assert_array_equal((attack.last_predictions != y).numpy(), fooled)


def test_l2_projection_matches_numpy():
    generator = torch.Generator().manual_seed(3)
    delta = torch.randn(40, 3, 4, 4, generator=generator, dtype=torch.float64) * torch.linspace(
        0, 2, 40, dtype=torch.float64
    ).view(-1, 1, 1, 1)
    for eps in (0.0, 0.3, 1.0, 5.0):
        ours = ThreatModel(Norm.L2, eps).project(delta).numpy()
        np.testing.assert_allclose(ours, np_project(delta.numpy(), eps), rtol=1e-12, atol=1e-15)
        assert (np_norms(ours).ravel() <= eps + 1e-12).all()
    per_example = torch.linspace(0.1, 1.0, 40, dtype=torch.float64).view(-1, 1, 1, 1)
    expected = np.stack([np_project(d[None], float(e))[0] for d, e in zip(delta.numpy(), per_example.flatten())])
    np.testing.assert_allclose(
        ThreatModel(Norm.L2, 1.0).project(delta, per_example).numpy(), expected, rtol=1e-12, atol=1e-15
    )


def test_l2_random_start_is_uniform_in_the_ball_and_per_example():
    """||start - x|| / eps = r with r^d uniform on [0, 1] (d = 4 here), directions without bias;
    an example's start does not depend on its batch."""
    model = Linear(pixels=4, classes=2)
    n, eps = 600, 0.05
    images = torch.full((n, 1, 2, 2), 0.5)  # far from 0 and 1: no clipping
    attack = PGD(model, ThreatModel("l2", eps), seed=5)
    starts = attack.random_starts(images, torch.arange(n), restart=0)
    delta = (starts - images).double().flatten(1).numpy()
    radius = np.linalg.norm(delta, axis=1) / eps
    assert radius.max() <= 1 + 1e-6
    assert stats.kstest(radius**4, "uniform").pvalue > 1e-3
    directions = delta / np.linalg.norm(delta, axis=1, keepdims=True)
    assert np.abs(directions.mean(0)).max() < 4 / math.sqrt(n)
    alone = attack.random_starts(images[7:8], torch.tensor([7]), restart=0)
    assert torch.equal(alone[0], starts[7])


@pytest.mark.parametrize("attack", ["fgsm", "pgd", "pgd-restarts", "pgd-random"])
def test_every_l2_output_is_inside_the_ball_and_the_box(linear, attack):
    model, x, y, _ = linear
    eps = 1.5
    atk = {
        "fgsm": lambda: FGSM(model, ThreatModel("l2", eps)),
        "pgd": lambda: PGD(model, ThreatModel("l2", eps), random_start=False),
        "pgd-restarts": lambda: PGD(model, ThreatModel("l2", eps), restarts=3),
        "pgd-random": lambda: PGD(model, ThreatModel("l2", eps), early_stop=False),
    }[attack]()
    adv = atk(x, y)
    assert float((adv - x).flatten(1).norm(dim=1).max()) <= eps * (1 + 1e-6)
    assert adv.min() >= 0 and adv.max() <= 1


def test_eps_checks_per_norm():
    assert ThreatModel("l2", 2.0).eps == 2.0
    with pytest.raises(HfcError):
        ThreatModel("linf", 2.0)
    with pytest.raises(HfcError):
        ThreatModel("l2", -0.1)
    with pytest.raises(HfcError):
        PGD(Linear(), ThreatModel("l1", 0.5))


# ------------------------------------------------------------------ the engine's rows


def _examples(folder) -> pd.DataFrame:
    with gzip.open(folder / "examples.csv.gz", "rt") as handle:
        return pd.read_csv(handle)


ENGINE_EPS = (EPS, 1.0)  # at 1.0 the attacks through the filter break examples too, BPDA fewer


@pytest.fixture(scope="module")
def l2_run(tmp_path_factory):
    model = Linear().eval()
    images, labels = make_data(model)
    out = tmp_path_factory.mktemp("l2") / "run"
    run = hr.benchmark(
        model,
        (images, labels),
        name="linear",
        attacks=("fgsm", "pgd", "bpda-pgd"),
        eps=ENGINE_EPS,
        norm="l2",
        radii=(RADIUS,),
        steps=STEPS,
        random_start=False,
        spot_check=0,
        out=out,
        threads=1,
    )
    return model, images, labels, run, out


def expected_rows(model: Linear, images: torch.Tensor, labels: torch.Tensor, eps: float) -> dict:
    """(defense, threat, attack) -> (robust per example, perturbations of the row's attacked
    examples), from the numpy reference and the engine's documented rules: only clean-correct
    examples are attacked (oblivious: correct for both models; an example the bare model already
    misclassifies keeps its clean image); white-box and adaptive rows stop at the first success;
    oblivious rows transfer the bare attack's last iterate of the full budget."""
    params = np_params(model)
    x, y = images.double().numpy(), labels.numpy()
    alpha = 2.5 * eps / STEPS

    def bare_pred(v):
        return np_logits(params, v).argmax(1)

    def lp_pred(v):
        return np_logits(params, np_lowpass(v, RADIUS)).argmax(1)

    def bare_grad(v, t):
        return np_ce_gradient(params, v, t)

    def exact_grad(v, t):  # the low-pass filter is a real, even convolution: its own adjoint
        return np_lowpass(np_ce_gradient(params, np_lowpass(v, RADIUS), t), RADIUS)

    def bpda_grad(v, t):  # BPDA: the filter's backward pass is the identity
        return np_ce_gradient(params, np_lowpass(v, RADIUS), t)

    bare_ok, lp_ok = bare_pred(x) == y, lp_pred(x) == y
    both = lp_ok & bare_ok
    expected = {}
    rows = bare_ok
    adv = np_fgm(bare_grad, x[rows], y[rows], eps)
    expected[("none", "whitebox", "fgsm")] = (rows & _scatter(bare_pred(adv) == y[rows], rows), adv - x[rows])
    expected[("lowpass-r2", "oblivious", "fgsm")] = (
        lp_ok & (~bare_ok | _scatter(lp_pred(adv) == y[rows], rows)),
        (adv - x[rows])[both[rows]],
    )
    adv, fooled, _ = np_pgd(bare_grad, bare_pred, x[rows], y[rows], eps, alpha, STEPS)
    expected[("none", "whitebox", "pgd")] = (rows & _scatter(~fooled, rows), adv - x[rows])
    _, _, final = np_pgd(bare_grad, bare_pred, x[rows], y[rows], eps, alpha, STEPS, early_stop=False)
    expected[("lowpass-r2", "oblivious", "pgd")] = (
        lp_ok & (~bare_ok | _scatter(lp_pred(final) == y[rows], rows)),
        (final - x[rows])[both[rows]],
    )
    rows = lp_ok
    adv = np_fgm(exact_grad, x[rows], y[rows], eps)
    expected[("lowpass-r2", "adaptive", "fgsm")] = (rows & _scatter(lp_pred(adv) == y[rows], rows), adv - x[rows])
    for attack, gradient in (("pgd", exact_grad), ("bpda-pgd", bpda_grad)):
        adv, fooled, _ = np_pgd(gradient, lp_pred, x[rows], y[rows], eps, alpha, STEPS)
        expected[("lowpass-r2", "adaptive", attack)] = (rows & _scatter(~fooled, rows), adv - x[rows])
    return expected


def test_engine_rows_match_numpy(l2_run):
    """Every attacked row's per-example outcome, and its perturbations' L2 energy (Parseval) and
    spectrum bin by bin (perturbation_spectra.npz), against the numpy reference."""
    model, images, labels, run, out = l2_run
    frame = _examples(out)
    spectra = np.load(out / "perturbation_spectra.npz")
    spectrum_row = {str(cell): k for k, cell in enumerate(spectra["cell"])}
    checked, broken, standing = 0, set(), set()
    for eps in ENGINE_EPS:
        for (defense, threat, attack), (robust, delta) in expected_rows(model, images, labels, eps).items():
            cell = Cell("tensors", "linear", defense, threat, attack, ThreatModel("l2", eps)).key
            got = frame[frame["cell"] == cell].sort_values("index")["robust"].to_numpy().astype(bool)
            np.testing.assert_array_equal(got, robust, err_msg=cell)
            k = spectrum_row[cell]
            assert int(spectra["count"][k]) == len(delta)
            # Parseval: sum over bins of mean_c |FFT(delta_c)|^2 = (H W / C) ||delta||^2
            energy = float(spectra["spectrum"][k].sum()) * images.shape[1] / (SIDE * SIDE)
            np.testing.assert_allclose(energy, float((np_norms(delta) ** 2).mean()), rtol=1e-4, err_msg=cell)
            # and bin by bin: where the perturbation puts its energy (exact gradients through the
            # filter stay inside its band, BPDA's do not)
            power = (np.abs(np.fft.fftshift(np.fft.fft2(delta), axes=(-2, -1))) ** 2).mean(axis=(0, 1))
            np.testing.assert_allclose(spectra["spectrum"][k], power, rtol=1e-3, atol=1e-5 * power.max(), err_msg=cell)
            assert (np_norms(delta) <= eps * (1 + 1e-6)).all()
            checked += 1
            if threat != "oblivious":  # robust examples are attacked ones that held; the rest were broken
                kept = int(robust.sum())
                if kept:
                    standing.add((threat, attack))
                if len(delta) - kept:
                    broken.add((threat, attack))
    assert checked == 7 * len(ENGINE_EPS)
    # both outcomes occur in every white-box and adaptive family: the comparison can tell attacks apart
    families = {
        ("whitebox", "fgsm"),
        ("whitebox", "pgd"),
        ("adaptive", "fgsm"),
        ("adaptive", "pgd"),
        ("adaptive", "bpda-pgd"),
    }
    assert families <= broken and families <= standing


def _scatter(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``values`` for the ``rows`` examples (a boolean mask) back into a full-length array (False elsewhere)."""
    full = np.zeros(len(rows), bool)
    full[rows] = values
    return full


def test_l2_rows_carry_the_norm_everywhere(l2_run, tmp_path):
    _, _, _, run, out = l2_run
    table = pd.read_csv(out / "results.csv")
    assert (table["norm"] == "l2").all()
    assert all(Cell.parse(key).norm == "l2" for key in table["cell"])
    attacked = table[table["threat_model"] != "clean"]
    assert set(attacked["eps"]) == set(ENGINE_EPS)
    assert np.allclose(attacked["eps_255"], attacked["eps"] * 255)
    markdown = (out / "results.md").read_text()
    body = [line for line in markdown.splitlines() if line.startswith("| ") and "defense" not in line]
    assert len(body) == len(table) and all("| L2 |" in line for line in body)
    assert all(
        ("| 0.2 | L2 |" in line or "| 1 | L2 |" in line)
        for line, threat in zip(body, table["threat_model"])
        if threat != "clean"
    )
    assert "/255" not in "".join(body)  # an L2 eps is never written as k/255
    assert "Threat model: L2 ball" in markdown
    latex = render_table(table, json.loads((out / "run.json").read_text()), "latex")
    assert latex.count(r"L\textsubscript{2}") == len(table)
    html = render_report_html(out)
    assert html.count("<td>L2</td>") >= len(table)
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["config"]["norm"] == "l2" and run_json["config"]["eps"] == list(ENGINE_EPS)


def test_format_eps_per_norm():
    assert Norm.LINF.format_eps(8 / 255) == "8/255"
    assert Norm.L2.format_eps(0.5) == "0.5" and Norm.L2.format_eps(1.0) == "1"
    assert Norm.LINF.format_eps(255 / 255) == "255/255" and Norm.L2.format_eps(2 / 255) == "0.007843"


def test_plot_labels_name_the_norm(l2_run, monkeypatch):
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from hfc_robust.results.plots import plot_accuracy_vs_eps, plot_accuracy_vs_radius

    seen = []
    for cls, name in ((Axes, "set_xlabel"), (Axes, "set_title"), (Figure, "suptitle")):
        original = getattr(cls, name)
        monkeypatch.setattr(
            cls, name, lambda self, text, *a, _o=original, **k: (seen.append(text), _o(self, text, *a, **k))[1]
        )
    table = pd.read_csv(l2_run[4] / "results.csv")
    plot_accuracy_vs_eps(table)
    assert "L2 eps ([0, 1] pixel scale)" in seen and any("L2 threat model" in t for t in seen)
    seen.clear()
    plot_accuracy_vs_radius(table)
    assert "L2 eps = 0.2" in seen and "L2 eps = 1" in seen


def test_compare_and_leaderboard_keep_norms_apart(l2_run, tmp_path):
    model, images, labels, _, out = l2_run
    linf = tmp_path / "linf"
    hr.benchmark(
        model,
        (images, labels),
        name="linear",
        attacks=("fgsm",),
        eps=(8 / 255,),
        radii=(RADIUS,),
        spot_check=0,
        out=linf,
        threads=1,
    )
    assert "| 8/255 | L∞ |" in (linf / "results.md").read_text()
    with pytest.raises(HfcError, match="different threat-model norms"):
        compare_paths(linf, out)
    with pytest.raises(HfcError, match="different threat-model norms"):
        build_leaderboard([linf, out], tmp_path / "board.md")
    board = build_leaderboard([out], tmp_path / "board.md")
    text = render_leaderboard(board, "md")
    assert board.norm == "l2" and "robust accuracy at L2 eps = 1" in text


# ------------------------------------------------------------------ defaults and exit 2


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_default_eps_per_norm_and_shape():
    assert BenchSpec().eps == (8 / 255,) and BenchSpec(norm="linf").eps == (8 / 255,)
    assert BenchSpec(norm="l2").eps is None  # decided once the images' shape is known
    assert Norm.L2.default_eps((3, 32, 32)) == 0.5 and Norm.L2.default_eps((7, 3, 32, 32)) == 0.5
    assert Norm.LINF.default_eps((1, 28, 28)) == 8 / 255
    assert BenchSpec(norm="l2").resolved((3, 32, 32)).eps == (0.5,)
    assert BenchSpec(norm="l2", eps=(0.25,)).resolved((3, 32, 32)).eps == (0.25,)
    for shape in ((1, 28, 28), (3, 64, 64), (1, 32, 32)):
        with pytest.raises(HfcError, match="pass --eps"):
            Norm.L2.default_eps(shape)
    assert BenchSpec(norm="l2", eps=(2.0,)).eps == (2.0,)  # an L2 radius may exceed 1
    with pytest.raises(HfcError):
        BenchSpec(norm="linf", eps=(2.0,))
    with pytest.raises(HfcError, match="one norm per run"):
        BenchSpec(norm=("linf", "l2"))
    with pytest.raises(HfcError):
        BenchSpec(norm="l1")


def test_benchmark_takes_0_5_on_3x32x32_and_refuses_other_shapes_without_eps(tmp_path):
    model = Linear(pixels=3 * 32 * 32, classes=4).eval()
    images, labels = make_data(model, n=6, shape=(3, 32, 32))
    run = hr.benchmark(model, (images, labels), attacks=("fgsm",), norm="l2", spot_check=0, threads=1)
    attacked = run.table[run.table["threat_model"] != "clean"]
    assert list(attacked["eps"]) == [0.5] and (run.table["norm"] == "l2").all()
    assert list(run.run["config"]["eps"]) == [0.5]
    small = Linear().eval()
    images, labels = make_data(small, n=6)
    with pytest.raises(HfcError, match="no default eps for 1x8x8 images"):
        hr.benchmark(small, (images, labels), attacks=("fgsm",), norm="l2", out=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    run = hr.benchmark(small, (images, labels), attacks=("fgsm",), spot_check=0, threads=1)
    assert list(run.table[run.table["threat_model"] != "clean"]["eps"]) == [8 / 255]  # L-inf default unchanged


def test_cli_norm_defaults_and_exit_2(tmp_path):
    quick = ["--attack", "fgsm", "--n", "12", "--quiet", "--no-spot-check"]
    missing = invoke("bench", "--norm", "l2", *quick, "--out", tmp_path / "a")
    assert missing.exit_code == 2 and "--norm l2 has no default eps for 1x28x28 images" in one_line(missing)
    assert not (tmp_path / "a").exists()
    too_big = invoke("bench", "--eps", "2", *quick, "--out", tmp_path / "b")
    assert too_big.exit_code == 2 and "outside [0, 1]" in one_line(too_big) and not (tmp_path / "b").exists()
    two = invoke("bench", "--norm", "linf,l2", *quick, "--out", tmp_path / "c")
    assert two.exit_code == 2 and not (tmp_path / "c").exists()
    ok = invoke("bench", "--norm", "l2", "--eps", "1.5,0.5", *quick, "--out", tmp_path / "d")
    assert ok.exit_code == 0, ok.output
    table = pd.read_csv(tmp_path / "d" / "results.csv")
    assert (table["norm"] == "l2").all()
    assert sorted(set(table.loc[table["threat_model"] != "clean", "eps"])) == [0.5, 1.5]


def test_unbounded_eps_reaches_the_grey_image():
    """L2's unbounded radius contains the L-inf 0.5 ball: the farthest image of [0, 1]^d from the
    mid-grey one, a corner, lies exactly at that distance."""
    for shape in ((1, 28, 28), (3, 32, 32)):
        corner = np.zeros(shape)
        assert Norm.L2.unbounded_eps(shape) == pytest.approx(np.linalg.norm(corner - 0.5))
    assert Norm.LINF.unbounded_eps((3, 32, 32)) == 0.5


def test_unbounded_check_passes_under_l2():
    model = Linear().eval()
    images, labels = make_data(model, n=12)
    run = hr.benchmark(
        model,
        (images, labels),
        attacks=("pgd",),
        eps=(EPS,),
        norm="l2",
        radii=(RADIUS,),
        spot_check=0,
        check_unbounded=True,
        threads=1,
    )
    check = next(c for c in run.checks if c.name == "unbounded-attack-reaches-chance")
    assert check.status == "pass" and "eps=4 (L2)" in check.detail


# ------------------------------------------------------------------ --min-eps under L2


def test_min_eps_l2_is_the_distance_to_a_linear_boundary(tmp_path):
    """Two classes, a linear model, images far from the box's faces: the CE gradient points along
    w_1 - w_0, so L2 PGD fools an example exactly when eps exceeds its distance to the decision
    boundary, |margin| / ||w_1 - w_0||. The bisection's result lies within its tolerance (0.01)
    above that distance."""
    model = Linear(classes=2, scale=0.6).eval()
    images, labels = make_data(model, n=16, low=0.35)
    hr.benchmark(
        model,
        (images, labels),
        name="linear",
        attacks=("pgd",),
        eps=(0.5,),
        norm="l2",
        steps=20,
        random_start=False,
        spot_check=0,
        min_eps=True,
        out=tmp_path / "run",
        threads=1,
    )
    weight, bias = np_params(model)
    x = images.double().numpy().reshape(len(images), -1)
    margin = x @ (weight[1] - weight[0]) + bias[1] - bias[0]
    distance = np.abs(margin) / np.linalg.norm(weight[1] - weight[0])
    frame = _examples(tmp_path / "run")
    cell = Cell("tensors", "linear", "none", "whitebox", "pgd", ThreatModel("l2", 0.5)).key
    found = frame[frame["cell"] == cell].sort_values("index")["min_eps"].to_numpy(np.float64)
    broken = np.isfinite(found)
    assert broken.sum() >= 8 and (distance[~broken] > 1.0 - 1e-6).all()  # default max: twice the grid eps
    assert (found[broken] >= distance[broken] - 1e-5).all() and (found[broken] <= distance[broken] + 0.01 + 1e-5).all()
    # no pixel left [0, 1] on the way (the reference above assumes no clipping)
    direction = (weight[1] - weight[0]) / np.linalg.norm(weight[1] - weight[0])
    assert ((x + direction * 1.0 >= 0) & (x + direction * 1.0 <= 1)).all()
    assert ((x - direction * 1.0 >= 0) & (x - direction * 1.0 <= 1)).all()
