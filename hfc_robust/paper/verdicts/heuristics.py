"""Claims 5.1-5.9 (Sec. 5) by :mod:`hfc_robust.paper.rules.heuristics`, from the run records under
``results/paper/heuristics/`` (per setting, one (record, arrays) pair per seed, same seed order)."""

from __future__ import annotations

import numpy as np

from ..rules import heuristics as rule
from ..rules.common import ALIKE_POINTS
from .core import Verdict
from .stats import SeedComparison, compare_gaps, compare_seeds

__all__ = ["measure", "heuristics_claims"]

Runs = dict[str, list[tuple[dict, dict]]]


def measure(arrays: dict, name: str) -> np.ndarray:
    """A per-image measure of one run: ``test``, ``train``, ``L``, ``H``, ``L4`` ... ``H16``, ``L48``,
    ``H48``, ``H1216`` (means over the named radii) or ``speed`` (mean training correctness over epochs)."""
    radii = {"L": rule.RADII, "H": rule.RADII, "L48": (4, 8), "H48": (4, 8), "H1216": (12, 16)}
    if name == "test":
        return arrays["test_x"].astype(float)
    if name == "train":
        return arrays["train"].astype(float)
    if name == "speed":
        return arrays["curve_train"].astype(float).mean(0)
    kind = {"L": "x_l", "H": "x_h"}[name[0]]
    chosen = radii[name] if name in radii else (float(name[1:]),)
    return np.mean([arrays[f"test_{kind}@{float(r):g}"].astype(float) for r in chosen], axis=0)


def _cmp(runs: Runs, a: str, b: str, name: str) -> SeedComparison:
    return compare_seeds([measure(x, name) for _, x in runs[a]], [measure(x, name) for _, x in runs[b]])


def _gap(runs: Runs, a: str, b: str) -> SeedComparison:
    get = lambda s, n: [measure(x, n) for _, x in runs[s]]
    return compare_gaps(get(a, "train"), get(b, "train"), get(a, "test"), get(b, "test"))


def _line(label: str, c: SeedComparison, state: str) -> str:
    return f"{label} {c.text()} points: {state}"


def _verdict(claim: str, parts: list[tuple[str, SeedComparison, str]], verdict: str, why: str) -> Verdict:
    lines = [_line(*p) for p in parts]
    return Verdict(claim, "", "; ".join(lines), verdict, why, lines)


def heuristics_claims(runs: Runs) -> list[Verdict]:
    out = []
    # 5.1 batch size: accuracy and gap
    signed = [
        ("train: batch-25 - batch-400", _cmp(runs, "batch-25", "batch-400", "train"), +1),
        ("test: batch-25 - batch-400", _cmp(runs, "batch-25", "batch-400", "test"), +1),
        ("gap: batch-400 - batch-25", _gap(runs, "batch-400", "batch-25"), -1),
    ]
    states = [c.direction(sign) for _, c, sign in signed]
    verdict = (
        "reproduces"
        if all(s == "holds" for s in states)
        else "partially"
        if any(s != "no" for s in states)
        else "does not"
    )
    out.append(
        _verdict(
            "5.1",
            [(label, c, s) for (label, c, _), s in zip(signed, states)],
            verdict,
            f"{sum(s == 'holds' for s in states)} of 3 parts hold.",
        )
    )
    # 5.2 bigger batch: less HFC
    c = _cmp(runs, "batch-400", "batch-25", "H")
    state = c.direction(-1)
    out.append(
        _verdict(
            "5.2",
            [("H: batch-400 - batch-25", c, state)],
            {"holds": "reproduces", "leans": "partially"}.get(state, "does not"),
            f"the big-batch model's accuracy on x_h {'is' if state == 'holds' else 'is not'} lower.",
        )
    )
    # 5.3 dropout alike vanilla
    parts = [(f"{m}: dropout - vanilla", _cmp(runs, "dropout", "vanilla", m)) for m in ("test", "L", "H")]
    alike = [c.alike() for _, c in parts]
    out.append(
        _verdict(
            "5.3",
            [(label, c, "alike" if a else "not alike") for (label, c), a in zip(parts, alike)],
            "reproduces" if all(alike) else "partially" if any(alike) else "does not",
            f"alike (within +-{ALIKE_POINTS:g} points) on {sum(alike)} of 3 measures.",
        )
    )
    # 5.4 mix-up: similar accuracy, more HFC
    test, high = _cmp(runs, "mixup", "vanilla", "test"), _cmp(runs, "mixup", "vanilla", "H")
    similar, more = test.alike(), high.direction(+1)
    verdict = (
        "reproduces"
        if similar and more == "holds"
        else "partially"
        if more == "holds" or (similar and more == "leans")
        else "does not"
    )
    out.append(
        _verdict(
            "5.4",
            [("test: mixup - vanilla", test, "alike" if similar else "not alike"), ("H: mixup - vanilla", high, more)],
            verdict,
            f"accuracy {'alike' if similar else 'not alike'}; more HFC: {more}.",
        )
    )
    # 5.5 adversarial training
    signed = [
        ("test: adversarial - vanilla", _cmp(runs, "adversarial", "vanilla", "test"), -1),
        ("gap: adversarial - vanilla", _gap(runs, "adversarial", "vanilla"), -1),
        ("H(12,16): adversarial - vanilla", _cmp(runs, "adversarial", "vanilla", "H1216"), -1),
        ("H(4): adversarial - vanilla", _cmp(runs, "adversarial", "vanilla", "H4"), +1),
    ]
    states = [c.direction(sign) for _, c, sign in signed]
    held = sum(s == "holds" for s in states)
    out.append(
        _verdict(
            "5.5",
            [(label, c, s) for (label, c, _), s in zip(signed, states)],
            "reproduces" if held == 4 else "partially" if held >= 2 else "does not",
            f"{held} of 4 parts hold.",
        )
    )
    # 5.6 BatchNorm: more LFC and HFC at r = 4, 8
    parts = [
        ("L(4,8): batchnorm - vanilla", _cmp(runs, "batchnorm", "vanilla", "L48")),
        ("H(4,8): batchnorm - vanilla", _cmp(runs, "batchnorm", "vanilla", "H48")),
    ]
    states = [c.direction(+1) for _, c in parts]
    verdict = (
        "reproduces"
        if all(s == "holds" for s in states)
        else "partially"
        if any(s == "holds" for s in states) or all(s == "leans" for s in states)
        else "does not"
    )
    out.append(
        _verdict(
            "5.6",
            [(label, c, s) for (label, c), s in zip(parts, states)],
            verdict,
            f"more LFC: {states[0]}; more HFC: {states[1]}.",
        )
    )
    # 5.8 SGD against Adam only
    c = _cmp(runs, "sgd", "vanilla", "H")
    state = c.direction(+1)
    out.append(
        _verdict(
            "5.8",
            [("H: sgd - vanilla (Adam)", c, state)],
            "partially" if state == "holds" else "does not",
            "only SGD against Adam is run, so at most partially; SGD "
            + ("captures more HFC." if state == "holds" else "does not capture significantly more HFC."),
        )
    )
    # 5.9 BatchNorm trained on LFC
    gain = {r: _cmp(runs, f"lfc-r{r}-batchnorm", f"lfc-r{r}", "test") for r in (4, 12)}
    speed = {r: _cmp(runs, f"lfc-r{r}-batchnorm", f"lfc-r{r}", "speed") for r in (4, 12)}

    def diff_of_gains(name: str) -> SeedComparison:
        a = [measure(x, name) - measure(y, name) for (_, x), (_, y) in zip(runs["lfc-r4-batchnorm"], runs["lfc-r4"])]
        b = [measure(x, name) - measure(y, name) for (_, x), (_, y) in zip(runs["lfc-r12-batchnorm"], runs["lfc-r12"])]
        return compare_seeds(a, b)

    smaller_gain, smaller_speed = diff_of_gains("test"), diff_of_gains("speed")
    conditions = [
        ("(i) test gain r=4", gain[4], gain[4].direction(+1)),
        ("test gain r=12", gain[12], gain[12].direction(+1)),
        ("(ii) gain r=4 - gain r=12", smaller_gain, smaller_gain.direction(-1)),
        ("(iii) speed gain r=4", speed[4], speed[4].direction(+1)),
        ("speed gain r=12", speed[12], speed[12].direction(+1)),
        ("(iv) speed gain r=4 - r=12", smaller_speed, smaller_speed.direction(-1)),
    ]
    parts_ok = [
        gain[4].direction(+1) != "holds" or gain[12].direction(+1) != "holds",
        conditions[2][2] == "holds",
        conditions[3][2] == "holds" and conditions[4][2] == "holds",
        conditions[5][2] == "holds",
    ]
    held = sum(parts_ok)
    out.append(
        _verdict(
            "5.9",
            conditions,
            "reproduces" if held == 4 else "partially" if held >= 2 else "does not",
            f"{held} of 4 parts hold ((i) BatchNorm does not help at some radius: {parts_ok[0]}; (ii) helps "
            f"less at r = 4: {parts_ok[1]}; (iii) speeds training at both radii: {parts_ok[2]}; (iv) least "
            f"at r = 4: {parts_ok[3]}).",
        )
    )
    return out
