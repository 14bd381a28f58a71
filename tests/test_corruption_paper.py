"""The REPRODUCTION.md verdict on Yin et al.'s trade-off (hfc_robust.paper.corruptions) on per-image
records whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hfc_robust.cells import CorruptionCell
from hfc_robust.corruptions import CORRUPTIONS
from hfc_robust.paper.corruptions import group_change, per_image_counts, tradeoff_verdict

N = 300


def _counts(effects: dict[float, tuple[float, float]], seed: int = 0) -> pd.DataFrame:
    """Per-image counts (0..5 severities right) where the filter at radius r shifts the chance of being
    right by ``effects[r] = (on noise, on fog and contrast)``; other corruptions unchanged."""
    rng = np.random.default_rng(seed)
    frame = {"index": np.arange(N), "label": np.zeros(N, dtype=int), "none:none": np.ones(N, dtype=int)}
    base = {name: 0.5 for name in CORRUPTIONS}
    for name in CORRUPTIONS:
        frame[f"none:{name}"] = rng.binomial(5, base[name], N)
    for radius, (noise, low) in effects.items():
        frame[f"lowpass-r{radius:g}:none"] = np.ones(N, dtype=int)
        for name in CORRUPTIONS:
            shift = noise if CORRUPTIONS[name].family == "noise" else low if name in ("fog", "contrast") else 0.0
            frame[f"lowpass-r{radius:g}:{name}"] = rng.binomial(5, base[name] + shift, N)
    return pd.DataFrame(frame)


@pytest.mark.parametrize(
    "effects,expected",
    [
        ({8.0: (0.2, -0.2)}, "reproduces"),
        ({8.0: (0.2, -0.2), 12.0: (0.2, 0.0)}, "partially"),
        ({8.0: (0.2, 0.0)}, "does not"),
        ({8.0: (-0.2, -0.2), 16.0: (0.0, 0.0)}, "does not"),
    ],
)
def test_the_verdict_follows_its_rule(effects, expected):
    verdict, per = tradeoff_verdict("synthetic", _counts(effects), sorted(effects))
    assert verdict.verdict == expected, verdict
    for radius, (noise, low) in effects.items():
        assert per[radius]["high"]["low"] < noise < per[radius]["high"]["high"]  # the interval covers the truth
        assert per[radius]["low"]["low"] < low < per[radius]["low"]["high"]


def test_group_change_is_the_mean_paired_difference():
    counts = _counts({8.0: (0.1, -0.1)}, seed=1)
    change = group_change(counts, "lowpass-r8", ["gaussian_noise", "fog"])
    by_hand = (
        (counts["lowpass-r8:gaussian_noise"] - counts["none:gaussian_noise"])
        + (counts["lowpass-r8:fog"] - counts["none:fog"])
    ) / 10
    assert change["mean"] == pytest.approx(by_hand.mean())
    half = 1.9679 * by_hand.std(ddof=1) / np.sqrt(N)  # t(0.975, 299)
    assert change["high"] - change["mean"] == pytest.approx(half, rel=1e-3)
    counts.loc[:9, "lowpass-r8:none"] = 0  # ten images the filter gets wrong clean
    net = group_change(counts, "lowpass-r8", ["gaussian_noise", "fog"], net_of_clean=True)
    assert net["mean"] == pytest.approx(by_hand.mean() + 10 / N)


def test_per_image_counts_add_up_the_severities():
    rows = []
    for defense in ("none", "lowpass-r8"):
        rows += [
            dict(cell=CorruptionCell("d", "m", defense, "none", 0).key, index=i, label=0, correct=1) for i in (5, 6)
        ]
        for severity in range(1, 6):
            key = CorruptionCell("d", "m", defense, "fog", severity).key
            rows += [
                dict(cell=key, index=5, label=0, correct=int(severity <= 2)),
                dict(cell=key, index=6, label=0, correct=int(defense == "none")),
            ]
    counts = per_image_counts(pd.DataFrame(rows))
    assert counts["index"].tolist() == [5, 6]
    assert counts["none:fog"].tolist() == [2, 5] and counts["lowpass-r8:fog"].tolist() == [2, 0]
    assert counts["lowpass-r8:none"].tolist() == [1, 1]


def test_the_cost_is_counted_net_of_the_clean_cost_and_the_earlier_rule_is_kept():
    """Fog and contrast lose 20 points through the filter, and so do clean images (60 of 300 turn
    wrong): by construction no cost beyond the clean one. The rule of issue 26 (net of clean) finds
    none; the earlier rule (raw change) found one."""
    counts = _counts({8.0: (0.2, -0.2)}, seed=3)
    counts.loc[np.random.default_rng(4).permutation(N)[:60], "lowpass-r8:none"] = 0
    verdict, per = tradeoff_verdict("synthetic", counts, [8.0])
    assert per[8.0]["low_net"]["low"] < 0 < per[8.0]["low_net"]["high"]  # the net interval covers 0, the truth
    assert verdict.verdict == "does not" and verdict.old == "reproduces"
    earlier, _ = tradeoff_verdict("synthetic", counts, [8.0], net_of_clean=False)
    assert earlier.verdict == "reproduces" and earlier.old is None
