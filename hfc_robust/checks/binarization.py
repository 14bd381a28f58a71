"""The binarization test (Zimmermann, Brendel, Tramèr & Carlini, NeurIPS 2022, "Increasing Confidence
in Adversarial Robustness Evaluations"): is the run's attack strong enough for this defense?

Around each sampled example ``x`` (classified correctly by the defended model) the test builds a
binary task whose solution is guaranteed to have an adversarial example inside the threat model:

* inner points: ``x`` itself and ``k - 1`` random points within ``0.95 * eps`` of it (the threat
  model's own random draw, :meth:`~hfc_robust.threat.ThreatModel.sample_unit_ball`: band-limited in
  a band), label 0; one boundary point at ``eps`` (the same random draw scaled to size ``eps``, as
  the reference rescales its draws to the boundary), label 1; every point clipped to [0, 1], so each
  lies in the threat model's reach;
* a linear readout (logistic regression) on the defended model's penultimate features of those
  points: the defense and the network up to the features stay as they are; only the last layer
  becomes the binary readout. An example whose points the readout cannot separate perfectly is
  left out (``setup failed``, as in the reference implementation);
* the run's attack, on the binarized model, starting from ``x`` (class 0): the boundary point is
  an input within eps that the binarized model assigns to class 1, so an attack that finds no
  such input is too weak for this defense.

``k`` is 999, the reference's: with more points than features (64 on ResNet-20), the readout cannot
interpolate arbitrary labels; it separates the boundary point only where its features lie outside the
inner points' hull, and an example where they do not is left out.
The test reports the attack success rate (ASR) over the examples it could set up. The paper's
threshold is an ASR of 0.95: the check **fails** when the ASR is significantly below it (one-sided
exact binomial test of ``ASR >= 0.95``, p < 0.01), **warns** when it is below it without
significance (a small sample), and **passes** otherwise.

The attack run on the binarized model is the strongest the grid ran for the row: ``autoattack``
(APGD-CE, then, in the whole spectrum, FAB-T and Square: APGD-T's targeted DLR loss needs four
classes), ``autoattack-fast``, ``apgd-ce`` and ``apgd-t`` (APGD-CE, untargeted, on two classes),
``bpda-pgd`` (through the defense's BPDA twin), ``pgd``, then ``fgsm``, with the run's budgets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from scipy import special

from ..attacks.base import example_seed
from ..attacks.registry import AttackOptions, get_attack
from ..cells import SCORED_SCENARIOS, Cell
from ..data.dataset import Dataset
from ..engine.attack_result import AttackResult
from ..engine.inference import predict_classes
from ..engine.spectra import band_outside_filter
from ..errors import HfcError
from ..ops.modes import eval_mode
from ..threat import ThreatModel
from .paired import Check
from .spotcheck import _images, sample_indices

__all__ = [
    "binarization_check",
    "binarization_verdict",
    "auto_cost",
    "tested_rows",
    "binarized_task",
    "feature_module",
    "Binarized",
    "THRESHOLD",
    "INNER_RADIUS",
    "DEFAULT_SAMPLE",
    "CHECK_NAME",
    "PREFERENCE",
]

CHECK_NAME = "binarization-test"
THRESHOLD = 0.95  #: the paper's threshold on the attack success rate
SIGNIFICANCE = 0.01  #: a fail needs the ASR significantly below THRESHOLD (one-sided exact binomial test)
INNER_RADIUS = 0.95  #: inner points lie within 0.95 * eps (the reference's eta)
INNER_POINTS = 999  #: inner points per task, ``x`` among them: the reference's
DEFAULT_SAMPLE = 20  #: examples tested per row
#: which of the grid's attacks a row's test runs (the first the row has)
PREFERENCE = ("autoattack", "autoattack-fast", "bpda-pgd", "apgd-ce", "apgd-t", "pgd", "fgsm")


def feature_module(model: nn.Module, layer: str) -> nn.Module:
    """The submodule whose *input* is the penultimate features: ``layer`` names it (``net.linear``),
    also inside a defense's wrapper (a name ending in ``.net.linear``)."""
    matches = [m for name, m in model.named_modules() if name == layer or name.endswith("." + layer)]
    if not matches:
        raise HfcError(
            f"the model has no layer named {layer!r} for the binarization test's features",
            "name the module whose input is the penultimate features (the last linear layer), e.g. "
            "--feature-layer fc (feature_layer='fc' in Python); see model.named_modules()",
        )
    return matches[-1]


class Binarized(nn.Module):
    """``model`` with its last layer replaced by a binary readout: logits ``(-z, z)`` with
    ``z = w . f(x) + b``, ``f`` the input of ``layer`` (the defense and the network before it unchanged)."""

    weight: torch.Tensor
    bias: torch.Tensor

    def __init__(self, model: nn.Module, layer: nn.Module, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.model, self.layer = model, layer
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        captured: list[torch.Tensor] = []
        handle = self.layer.register_forward_pre_hook(lambda _module, inputs: captured.append(inputs[0]))
        try:
            self.model(x)
        finally:
            handle.remove()
        return captured[-1].flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        z = features @ self.weight.to(features.dtype) + self.bias.to(features.dtype)
        return torch.stack([-z, z], dim=1).to(x.dtype)


def _boundary_direction(threat: ThreatModel, like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random point of the threat model's unit boundary: the threat model's own random draw (uniform in
    the cube, or in the ball; band-limited in a band) scaled to size 1, as the reference scales its
    uniform draws to distance eps."""
    direction = threat.sample_unit_ball(like, generator)
    return direction / threat.size(direction[None]).clamp_min(1e-12)[0]


def _fit_readout(features: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Logistic regression of ``labels`` (0 inner, 1 boundary) on ``features``, classes weighted
    equally, no penalty (float64, L-BFGS on standardised features); the readout ``(w, b)`` in the
    original features, its training logits rescaled to a range of 1 (the reference's ``fixed``
    rescaling); None when it does not separate every point."""
    f = features.double()
    mean, scale = f.mean(0), f.std(0).clamp_min(1e-12)
    z = (f - mean) / scale
    y = labels.double()
    weight = torch.where(labels == 1, 0.5 / max(int(labels.sum()), 1), 0.5 / max(int((labels == 0).sum()), 1))
    w = torch.zeros(f.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14)

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = (weight * torch.nn.functional.binary_cross_entropy_with_logits(z @ w + b, y, reduction="none")).sum()
        value.backward()
        return value

    with torch.enable_grad():
        optimizer.step(loss)
    w_raw, b_raw = (w / scale).detach(), (b - (mean / scale) @ w).detach()
    logits = f @ w_raw + b_raw
    if not bool(((logits > 0) == labels.bool()).all()):
        return None
    spread = float(logits.max() - logits.min())
    return (w_raw / spread).float(), (b_raw / spread).float()


def binarized_task(
    model: nn.Module, layer: nn.Module, x: torch.Tensor, threat: ThreatModel, generator: torch.Generator
) -> Binarized | None:
    """The binarized model around one example ``x`` (1 x C x H x W); None when the readout cannot
    separate the inner points from the boundary point."""
    probe = Binarized(model, layer, torch.zeros(0), torch.zeros(()))
    inner = INNER_POINTS
    draws = [threat.sample_unit_ball(x, generator) for _ in range(inner - 1)]
    points = [x] + [(x + INNER_RADIUS * threat.eps * d.to(x.device)[None]).clamp(0, 1) for d in draws]
    points.append((x + threat.eps * _boundary_direction(threat, x, generator).to(x.device)[None]).clamp(0, 1))
    labels = torch.zeros(len(points), dtype=torch.long)
    labels[-1] = 1
    with torch.inference_mode():
        features = torch.cat([probe.features(batch) for batch in torch.cat(points).split(256)])
    readout = _fit_readout(features.cpu(), labels)
    if readout is None:
        return None
    return Binarized(model, layer, readout[0].to(x.device), readout[1].to(x.device)).eval()


def _attack(name: str, binarized: nn.Module, threat: ThreatModel, options: AttackOptions):
    """The test's attack on a two-class model (see the module docstring)."""
    from ..attacks.apgd import APGD

    if name in ("autoattack", "autoattack-fast", "apgd-ce", "apgd-t"):
        components: dict = {"apgd-ce": APGD(binarized, threat, seed=options.seed)}
        if name == "autoattack" and threat.band is None:
            from ..attacks.fab import FABT
            from ..attacks.square import Square

            components["fab-t"] = FABT(binarized, threat, seed=options.seed, num_classes=2)
            components["square"] = Square(binarized, threat, seed=options.seed, rescale_schedule=False)
        return components
    return {name: get_attack(name).build(binarized, threat, options)}


def _broken(components: dict, scorer: nn.Module, x: torch.Tensor, ids: torch.Tensor) -> bool:
    from ..attacks.autoattack import run_cascade

    label = torch.zeros(1, dtype=torch.long, device=x.device)
    out = run_cascade(scorer, components, x, label, ids)
    return bool(predict_classes(scorer, out.adversarial)[0] == 1)


@dataclass(frozen=True)
class _Row:
    cell: Cell
    attack: str


def tested_rows(cells: Sequence[Cell], everywhere: bool) -> list[_Row]:
    """Per (defense, scenario, band) of the white-box and adaptive rows at the largest eps: the row of
    the strongest attack the grid ran there (:data:`PREFERENCE`); through a defense only, and only
    where ``autoattack`` ran, unless ``everywhere``."""
    scored = [c for c in cells if c.scenario in SCORED_SCENARIOS and c.eps > 0 and ":" not in c.attack]
    if not scored:
        return []
    eps = max(c.eps for c in scored)
    groups: dict[tuple, dict[str, Cell]] = {}
    for c in scored:
        if c.eps == eps and c.attack in PREFERENCE:
            groups.setdefault((c.defense, c.scenario, c.band), {})[c.attack] = c
    rows = []
    for (defense, _, _), attacks in groups.items():
        if not everywhere and (defense == "none" or "autoattack" not in attacks):
            continue
        name = next(a for a in PREFERENCE if a in attacks)
        rows.append(_Row(attacks[name], name))
    return rows


#: why a row whose band the low-pass filter removes is not tested: its perturbations reach the defended
#: model only through the energy clipping moves inside the radius, so a binarized task's boundary point
#: differs from x by that leak alone (a readout can still separate it), and the attack, which cannot aim at
#: the leak, misses it whatever its strength. Those rows have the band consistency check instead.
OUTSIDE_FILTER = "the filter removes this band: the band consistency check covers the row"


#: the automatic test (``--check-binarization`` not given) runs when it costs at most this share of the
#: grid's autoattack rows through a defense
AUTO_SHARE = 0.25


def auto_cost(cells: Sequence[Cell], n: int, size: int = DEFAULT_SAMPLE) -> tuple[bool, str]:
    """Whether the automatic test fits its budget, and why: it runs on the defended autoattack rows
    (:func:`tested_rows`) when its forward and backward passes (each example's ~1,000 points, a third
    of a pass each, and APGD-CE's 100 steps) are at most :data:`AUTO_SHARE` of a lower bound on
    those rows' own (APGD-CE's 100 steps on each of ``n`` examples)."""
    rows = tested_rows(cells, everywhere=False)
    if not rows:
        return False, "not run: no autoattack row through a defense (opt in with --check-binarization)"
    test = len(rows) * size * ((INNER_POINTS + 1) / 3 + 100)
    autoattack = len(rows) * n * 100
    if test > AUTO_SHARE * autoattack:
        return False, (
            f"not run: on {n} images its cost (about {test:,.0f} passes) exceeds {AUTO_SHARE:g} of the autoattack "
            f"rows' ({autoattack:,.0f}); run it with --check-binarization"
        )
    return True, ""


def binarization_verdict(broken: int, valid: int) -> tuple[str, float]:
    """``(status, p)``: ``p`` = P(X <= broken) for X ~ Binomial(valid, THRESHOLD), the one-sided exact
    p-value of "the ASR is at least the threshold"; fail when p < SIGNIFICANCE, warn below the
    threshold otherwise, pass at or above it (and ``skipped`` with no example set up)."""
    if valid == 0:
        return "skipped", float("nan")
    p = float(special.bdtr(broken, valid, THRESHOLD))
    if broken / valid >= THRESHOLD:
        return "pass", p
    return ("fail" if p < SIGNIFICANCE else "warn"), p


def binarization_check(
    result: AttackResult,
    modules: dict[str, nn.Module],
    bpda_modules: dict[str, nn.Module],
    dataset: Dataset,
    feature_layer: str | None,
    size: int = DEFAULT_SAMPLE,
    everywhere: bool = True,
    device: torch.device | str = "cpu",
    progress: Callable[[str], None] | None = None,
) -> Check:
    """The test on up to ``size`` examples of each tested row (:func:`tested_rows`)."""
    spec = result.spec
    if feature_layer is None:
        return Check(
            CHECK_NAME,
            "skipped",
            "no feature layer for this model: name the module whose input is the penultimate features with "
            "--feature-layer NAME (feature_layer= in Python)",
        )
    rows = tested_rows(result.cells, everywhere)
    if not rows:
        return Check(CHECK_NAME, "skipped", "not applicable (no white-box or adaptive row of a gradient attack)")
    options = spec.attack_options(2)
    records = []
    for row in rows:
        cell = row.cell
        if band_outside_filter(cell.threat, result.grid.defense_of[cell.defense]):
            records.append(
                {
                    "cell": cell.key,
                    "attack": row.attack,
                    "sampled": 0,
                    "valid": 0,
                    "broken": 0,
                    "asr": None,
                    "p": None,
                    "status": "skipped",
                    "reason": OUTSIDE_FILTER,
                }
            )
            continue
        index = result.store.column("index")
        clean = result.store.column(f"clean{result.grid.defense_position[cell.defense]}")
        sample = sample_indices(
            f"binarization:{cell.key}", spec.seed, index[clean == result.store.column("label")], size
        )
        if progress:
            progress(f"binarization test: {row.attack} on {len(sample)} examples of {cell.defense} {cell.scenario}")
        scorer_model = modules[cell.defense]
        attacked_model = bpda_modules[cell.defense] if get_attack(row.attack).bpda else scorer_model
        layer, attacked_layer = (
            feature_module(scorer_model, feature_layer),
            feature_module(attacked_model, feature_layer),
        )
        broken = valid = 0
        if len(sample):
            ids, images, _ = _images(dataset, sample, spec.batch_size)
            for example_id, image in zip(ids.tolist(), images.to(device)):
                generator = torch.Generator().manual_seed(example_seed(spec.seed, int(example_id), 1 << 20))
                with eval_mode(scorer_model), eval_mode(attacked_model):
                    task = binarized_task(scorer_model, layer, image[None], cell.threat, generator)
                    if task is None:
                        continue
                    valid += 1
                    attacked = Binarized(attacked_model, attacked_layer, task.weight, task.bias).eval()
                    components = _attack(row.attack, attacked, cell.threat, options)
                    broken += _broken(components, task, image[None], torch.tensor([int(example_id)]))
        status, p = binarization_verdict(broken, valid)
        records.append(
            {
                "cell": cell.key,
                "attack": row.attack,
                "sampled": int(len(sample)),
                "valid": valid,
                "broken": broken,
                "asr": broken / valid if valid else None,
                "p": None if np.isnan(p) else p,
                "status": status,
            }
        )
    return _summary(records)


def _where(key: str) -> str:
    cell = Cell.parse(key)
    return f"{cell.defense} {cell.threat.label}" if isinstance(cell, Cell) else key


def _summary(records: list[dict]) -> Check:
    order = {"fail": 0, "warn": 1, "pass": 2, "skipped": 3}
    worst = min(records, key=lambda r: (order[r["status"]], r["asr"] if r["asr"] is not None else 2))
    status = worst["status"] if worst["status"] != "skipped" else "skipped"
    parts = [
        f"{_where(r['cell'])} {r['attack']}: "
        + (f"ASR {r['broken']}/{r['valid']}" if r["valid"] else r.get("reason", "no task set up"))
        + (f" ({r['sampled'] - r['valid']} not separable)" if r["sampled"] > r["valid"] else "")
        for r in sorted(records, key=lambda r: (order[r["status"]], r["asr"] if r["asr"] is not None else 2))
    ]
    verdict = {
        "fail": "the attack misses adversarial examples that provably exist: its numbers overstate robustness",
        "warn": "below the threshold, not significantly (a small sample)",
        "pass": "the attack finds the guaranteed adversarial examples",
        "skipped": "no binarized task could be set up",
    }[status]
    detail = (
        f"{'; '.join(parts[:4])}{'; ...' if len(parts) > 4 else ''}: {verdict} (threshold ASR {THRESHOLD:g}, "
        f"fail when significantly below it, p < {SIGNIFICANCE:g}; Zimmermann et al. 2022)"
    )
    return Check(CHECK_NAME, status, detail, {"rows": records, "threshold": THRESHOLD})
