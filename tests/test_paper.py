"""Verdict rules of hfc_robust.paper on hand-made tables (no model involved)."""

from __future__ import annotations

import pandas as pd

from hfc_robust.paper import verdicts as paper
from hfc_robust.results.stats import wilson_interval


def _row(defense, rho, threat, attack, eps, correct, n=1000):
    lo, hi = wilson_interval(correct, n)
    return dict(
        defense=defense,
        radius=None,
        rho=rho,
        attack=attack,
        eps=eps,
        threat_model=threat,
        n=n,
        correct=correct,
        accuracy=correct / n,
        ci_low=lo,
        ci_high=hi,
    )


def _bench_table(clean0, clean1, pgd0, pgd1, small_gain=False):
    """Undefended: clean0, PGD/FGSM accuracy pgd0 at every eps > 0; rho=1: clean1 and pgd1."""
    rows = [_row("none", None, "clean", "none", 0.0, clean0)]
    for rho in paper.TABLE2_RHOS:
        rows.append(_row("smooth", rho, "clean", "none", 0.0, clean1))
    for eps in paper.TABLE2_EPS:
        for attack in ("fgsm", "pgd"):
            base = clean0 if eps == 0 else pgd0
            smooth = clean1 if eps == 0 else (pgd0 + 200 if small_gain and eps == 2 / 255 else pgd1)
            rows.append(_row("none", None, "whitebox", attack, eps, base))
            for rho in paper.TABLE2_RHOS:
                rows.append(_row("smooth", rho, "adaptive", attack, eps, smooth))
    return pd.DataFrame(rows)


def test_smoothing_verdicts():
    assert paper.smoothing_verdicts("s", _bench_table(900, 880, 100, 300)).verdict == "reproduces"
    assert paper.smoothing_verdicts("s", _bench_table(900, 880, 100, 100, small_gain=True)).verdict == "partially"
    assert paper.smoothing_verdicts("s", _bench_table(900, 880, 100, 95)).verdict == "does not"
    # a model smoothed down to chance is not "more robust", even where the undefended one is at 0%
    chance = paper.smoothing_verdicts("s", _bench_table(900, 90, 0, 88))
    assert chance.verdict == "does not" and "chance" in chance.why


def test_adversarial_training_verdict():
    natural, robust = _bench_table(900, 900, 20, 20), _bench_table(700, 700, 350, 350)
    assert paper.at_verdict("x", natural, robust).verdict == "reproduces"
    assert paper.at_verdict("x", robust, natural).verdict == "does not"


def _table1(full, low, high, same=0.6):
    runs = [
        dict(
            input="full",
            radius=None,
            test_n=5000,
            test_correct=int(full * 5000),
            test_accuracy=full,
            epochs=3,
            train_n=10000,
            wall_time_s=1.0,
        )
    ]
    for kind, accs in (("low", low), ("high", high)):
        for radius, acc in zip((4, 8, 12, 16), accs):
            runs.append(
                dict(
                    input=kind,
                    radius=radius,
                    test_n=5000,
                    test_correct=int(acc * 5000),
                    test_accuracy=acc,
                    epochs=3,
                    train_n=10000,
                    wall_time_s=1.0,
                    same_view_correct=int(same * 5000),
                    same_view_accuracy=same,
                )
            )
    return {"description": "test", "runs": runs}


def test_table1_verdicts():
    good = paper.table1_verdicts(_table1(0.70, (0.3, 0.45, 0.55, 0.62), (0.1, 0.11, 0.12, 0.1)))
    assert [v.verdict for v in good] == ["reproduces", "reproduces"]
    weak = paper.table1_verdicts(_table1(0.70, (0.3, 0.35, 0.4, 0.45), (0.2, 0.3, 0.25, 0.2)))
    assert [v.verdict for v in weak] == ["partially", "partially"]
    bad = paper.table1_verdicts(_table1(0.70, (0.1, 0.1, 0.1, 0.1), (0.5, 0.5, 0.5, 0.5)))
    assert [v.verdict for v in bad] == ["does not", "does not"]
    assert "| x_h | 16 |" in paper.table1_markdown(_table1(0.7, (0.3,) * 4, (0.1,) * 4))


def _spectrum(high_acc, hclw, n=1000):
    table = [dict(view="x", radius=None, n=n, correct=900, accuracy=0.9, ci_low=0.88, ci_high=0.92)]
    flips = []
    for radius in (4, 8):
        lo, hi = wilson_interval(int(high_acc * n), n)
        table.append(
            dict(view="x_h", radius=radius, n=n, correct=int(high_acc * n), accuracy=high_acc, ci_low=lo, ci_high=hi)
        )
        table.append(dict(view="x_l", radius=radius, n=n, correct=500, accuracy=0.5, ci_low=0.47, ci_high=0.53))
        flo, fhi = wilson_interval(hclw, n)
        flips.append(
            dict(
                radius=radius,
                n=n,
                high_correct_low_wrong=hclw,
                high_correct_low_wrong_frac=hclw / n,
                hclw_ci_low=flo,
                hclw_ci_high=fhi,
                low_correct_high_wrong=100,
                low_correct_high_wrong_frac=100 / n,
            )
        )
    return pd.DataFrame(table), pd.DataFrame(flips)


def test_spectrum_verdicts():
    assert paper.spectrum_verdict("s", *_spectrum(0.4, 200)).verdict == "reproduces"
    assert paper.spectrum_verdict("s", *_spectrum(0.2, 2)).verdict == "partially"
    # 3% of images is not "often": the share must clear 5% by its Wilson lower bound
    assert paper.spectrum_verdict("s", *_spectrum(0.4, 30)).verdict == "partially"
    assert paper.spectrum_verdict("s", *_spectrum(0.4, 80)).verdict == "reproduces"
    assert paper.spectrum_verdict("s", *_spectrum(0.09, 1)).verdict == "does not"


def test_the_closing_note_names_every_changed_verdict_and_every_new_claim():
    from hfc_robust.paper.verdicts.document import closing_note

    verdicts = {
        "3.1": paper.Verdict("3.1", "s", "n", "partially", "only where x_l is blurred", old="reproduces"),
        "4.1": paper.Verdict("4.1", "s", "n", "does not", "why"),
        "6.2": paper.Verdict("6.2", "s", "n", "reproduces", "why", old="reproduces"),
    }
    baseline = paper.Verdict("Yin et al.", "s", "n", "partially", "net of clean", old="reproduces")
    lines = closing_note(verdicts, [baseline])
    assert lines[0].startswith(
        "3.1 (Sec. 3.1, Fig. 2): earlier reproduces; now 🟡 partially — only where x_l is blurred"
    )
    assert lines[1].startswith("4.1 (Sec. 4.2, Fig. 3): new, ❌ does not")
    assert lines[2].startswith("6.2 (Sec. 6.2, Fig. 7): unchanged")
    assert lines[3].startswith("Yin et al. (not counted): earlier reproduces; now 🟡 partially")
