"""The spot check's decision logic on constructed outcomes, no attacks: the overestimate arithmetic,
the exact test against a combinatorial transcription (``math.comb``, exact fractions), warn and
fail at their boundaries, the masking flag, the power behind the default sample size (exact and
by simulation), the choice of rows, the summary, and the budgets the docs state."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from hfc_robust import budgets as defaults
from hfc_robust.cells import Cell
from hfc_robust.checks.spotcheck import CHECK_NAME, reported_cells, summarize
from hfc_robust.checks.spotrule import (
    ALPHA,
    critical_count,
    default_sample_size,
    lower_bound_points,
    overstatement_points,
    p_value,
    power,
    row_verdict,
    sample_size,
)
from hfc_robust.threat import Norm, ThreatModel

ROOT = Path(__file__).resolve().parents[1]


# ---- an independent transcription of the rule: sampling m of R without replacement, B breakable ----


def tail(k: int, R: int, B: int, m: int) -> Fraction:
    """P(at least k of the m drawn are breakable), by counting subsets."""
    total = math.comb(R, m)
    return sum(
        (Fraction(math.comb(B, x) * math.comb(R - B, m - x), total) for x in range(k, min(B, m) + 1)), Fraction(0)
    )


def reference_fails(k: int, m: int, R: int, n: int, tolerance=1.0, alpha=Fraction(1, 10)) -> bool:
    """H0: at most `tolerance` points, i.e. B <= tolerance * n / 100 breakable; reject when P(>= k) < alpha."""
    null = min(R, math.floor(Fraction(str(tolerance)) * n / 100))
    return k > 0 and tail(k, R, null, m) < alpha


def verdict(R: int, n: int, m: int, broken: int, square_only: int = 0) -> dict:
    """row_verdict on a constructed sample of m: the first ``broken - square_only`` examples broken
    by APGD, the next ``square_only`` only by Square (which runs where APGD failed)."""
    gradient = np.zeros(m, bool)
    square = np.zeros(m, bool)
    gradient[: broken - square_only] = True
    square[broken - square_only : broken] = True
    return row_verdict(R, n, gradient, square)


# ---- arithmetic ----


def test_overestimate_arithmetic():
    # 186 of 1000 reported robust, 4 of 10 sampled broken: 18.6 points * 0.4 = 7.44 points
    assert overstatement_points(4, 10, 186, 1000) == pytest.approx(7.44)
    assert overstatement_points(0, 10, 186, 1000) == 0.0
    assert overstatement_points(10, 10, 186, 1000) == pytest.approx(18.6)  # every robust example broken
    record = verdict(R=202, n=1000, m=25, broken=5)
    assert record["overestimate_points"] == pytest.approx(100 * 202 / 1000 * 5 / 25)
    assert (record["sampled"], record["robust"], record["n"]) == (25, 202, 1000)


def test_broken_counts_the_union_of_apgd_and_square():
    gradient = np.array([1, 1, 1, 0, 0, 0, 0, 0], bool)
    square = np.array([0, 1, 0, 1, 1, 0, 0, 0], bool)  # one of them APGD broke too (a full-sample Square)
    record = row_verdict(400, 1000, gradient, square)
    assert (record["broken"], record["broken_by_apgd"], record["square_only"]) == (5, 3, 2)
    assert record["overestimate_points"] == pytest.approx(40 * 5 / 8)


def test_p_value_and_lower_bound_match_the_counting_reference():
    for k, m, R, n in [
        (3, 10, 100, 1000),
        (4, 25, 186, 1000),
        (1, 5, 7, 50),
        (6, 37, 300, 1000),
        (0, 10, 90, 1000),
        (5, 20, 20, 1000),
    ]:
        null = min(R, math.floor(n / 100))
        assert p_value(k, m, R, n) == pytest.approx(float(tail(k, R, null, m)) if k else 1.0, abs=1e-12)
        # the lower bound: the smallest B >= k with P(>= k | B) > alpha
        expected = next(B for B in range(k, R + 1) if tail(k, R, B, m) > Fraction(1, 10)) if k else 0
        assert lower_bound_points(k, m, R, n) == pytest.approx(100 * expected / n)


def test_a_census_is_exact():
    # all 20 robust examples attacked: 11 broken is an overstatement of exactly 1.1 points > 1: overstated (a
    # warning, the row being an upper bound); 10 broken is exactly 1 point: not overstated, not above the warn line
    eleven, ten = verdict(R=20, n=1000, m=20, broken=11), verdict(R=20, n=1000, m=20, broken=10)
    assert eleven["overstated"] and eleven["status"] == "warn"
    assert not ten["overstated"] and ten["status"] == "pass"
    assert lower_bound_points(11, 20, 20, 1000) == pytest.approx(1.1)


# ---- overstated and warn at their boundaries; only masking fails ----


@pytest.mark.parametrize("R, n, m", [(100, 1000, 10), (186, 1000, 20), (202, 1000, 20), (600, 1000, 37), (90, 200, 15)])
def test_overstated_starts_exactly_where_the_reference_test_rejects(R, n, m):
    first = next((k for k in range(m + 1) if reference_fails(k, m, R, n)), None)
    assert critical_count(m, R, n) == first
    for k in range(m + 1):
        record = verdict(R, n, m, k)
        assert record["overstated"] == (first is not None and k >= first), k
        assert record["status"] != "fail"  # an upper-bound row found overstated is not a contradiction
        if record["overstated"]:
            assert record["status"] == "warn"


def test_warn_above_one_point_estimate_when_the_test_does_not_reject():
    # R = 100 of 1000, m = 10: each sampled break is 1 point of estimate
    statuses = {k: verdict(100, 1000, 10, k)["status"] for k in range(11)}
    first_fail = next(k for k in range(11) if reference_fails(k, 10, 100, 1000))
    assert statuses[0] == "pass"
    assert statuses[1] == "pass"  # an estimate of exactly 1 point: not above the line
    assert all(statuses[k] == "warn" for k in range(2, 11)) and first_fail > 2
    assert [k for k in range(11) if verdict(100, 1000, 10, k)["overstated"]] == list(range(first_fail, 11))


def test_a_tiny_robust_fraction_cannot_fail_on_the_estimate():
    # 8 of 1000 robust: even all of them broken is 0.8 points, within the tolerance
    record = verdict(8, 1000, 8, 8)
    assert record["status"] == "pass" and record["overestimate_points"] == pytest.approx(0.8)
    assert record["power"] is None  # a 5-point overstatement is impossible here


# ---- the masking flag ----


def test_masking_needs_significantly_more_square_only_breaks():
    # one-sided exact binomial: 7 Square-only breaks against no APGD break, p = 1/128 < 0.01; 6, p = 1/64 > 0.01
    masked = verdict(900, 1000, 37, broken=7, square_only=7)
    assert masked["gradient_masking"] and masked["status"] == "fail"
    assert masked["masking_p"] == pytest.approx(1 / 128, abs=1e-6)
    near = verdict(900, 1000, 37, broken=6, square_only=6)
    assert not near["gradient_masking"] and near["masking_p"] == pytest.approx(1 / 64, abs=1e-6)
    # as many APGD breaks as Square-only ones: no masking however many there are
    even = verdict(900, 1000, 37, broken=20, square_only=10)
    assert not even["gradient_masking"]
    # every APGD break counts as one Square missed (Square ran only where APGD failed): 9 against 1, p = 11/1024
    assert not verdict(900, 1000, 37, broken=10, square_only=9)["gradient_masking"]
    assert verdict(900, 1000, 37, broken=10, square_only=10)["gradient_masking"]
    # masking fails the row even when the overstatement itself would only warn or pass
    tiny = verdict(30, 1000, 30, broken=8, square_only=8)
    assert tiny["overestimate_points"] < 1 and tiny["status"] == "fail"


# ---- the sample size and its power ----


def reference_power(m: int, R: int, n: int) -> float:
    first = next((k for k in range(m + 1) if reference_fails(k, m, R, n)), None)
    return 0.0 if first is None else float(tail(first, R, math.ceil(5 * n / 100), m))


def test_power_matches_the_counting_reference():
    for m, R, n in [(10, 186, 1000), (37, 300, 1000), (20, 202, 1000), (20, 200, 1000), (37, 500, 1000)]:
        assert power(m, R, n) == pytest.approx(reference_power(m, R, n), abs=1e-9)


def test_default_sample_catches_a_five_point_overstatement():
    n = defaults.SPOT_ASSUMED_N
    most = round(defaults.SPOT_ASSUMED_ROBUST * n)
    N = defaults.DEFAULT_SPOT_CHECK
    assert ALPHA == defaults.SPOT_ALPHA == 0.1 and most == 202  # the quick start's larger headline row
    assert N == default_sample_size(most, n)
    # power >= 0.9 at every robust count where 5 points can be overstated (50 of 1000) up to the assumed one,
    # by the counting reference; one example fewer misses it somewhere in that range
    assert all(reference_power(N, R, n) >= defaults.SPOT_POWER for R in range(50, most + 1, 8))
    assert min(power(N, R, n) for R in range(50, most + 1)) >= defaults.SPOT_POWER
    assert min(power(N - 1, R, n) for R in range(50, most + 1)) < defaults.SPOT_POWER
    assert power(N, 186, n) >= 0.9 and power(N, 202, n) >= 0.9  # both rows of the quick start


def test_the_rule_flags_a_five_point_overstatement_in_simulation():
    """Draw samples without replacement from a population with 50 of the 202 robust examples
    (the quick start's 20.2% of n = 1000) breakable, 5 points, and run the whole decision: it must
    flag the row overstated at least 88% of the time (power 0.9 less Monte-Carlo error); with 10 breakable (1 point)
    at most 10% (the test's level)."""
    rng = np.random.default_rng(0)
    N, n = defaults.DEFAULT_SPOT_CHECK, defaults.SPOT_ASSUMED_N
    R = round(defaults.SPOT_ASSUMED_ROBUST * n)
    for breakable, low, high in ((50, 0.88, 1.0), (10, 0.0, 0.1)):
        population = np.zeros(R, bool)
        population[:breakable] = True
        fails = 0
        for _ in range(2000):
            drawn = rng.choice(population, size=N, replace=False)
            fails += row_verdict(R, n, drawn, np.zeros(N, bool))["overstated"]
        assert low <= fails / 2000 <= high, (breakable, fails)


# ---- which rows are checked ----


def cell(defense: str, threat: str, attack: str, eps_255: float) -> Cell:
    return Cell("fmnist", "fmnist-cnn", defense, threat, attack, ThreatModel(Norm.LINF, eps_255 / 255))


def grid(attacks: list[str], eps: list[float]) -> list[Cell]:
    cells = [cell("none", "clean", "none", 0), cell("lowpass-r8", "clean", "none", 0)]
    for e in eps:
        for attack in attacks:
            cells += [
                cell("none", "whitebox", attack, e),
                cell("lowpass-r8", "oblivious", attack, e),
                cell("lowpass-r8", "adaptive", attack, e),
            ]
    return cells


def test_single_attack_rows_at_the_largest_eps():
    chosen = reported_cells(grid(["pgd"], [2, 8, 4]))
    assert {(c.defense, c.scenario, c.attack, round(c.eps * 255)) for c in chosen} == {
        ("none", "whitebox", "pgd", 8),
        ("lowpass-r8", "adaptive", "pgd", 8),
    }  # never oblivious or clean rows


def test_worst_case_row_when_the_grid_has_several_attacks():
    cells = grid(["fgsm", "pgd", "worst-case"], [8])
    assert {(c.defense, c.attack) for c in reported_cells(cells)} == {
        ("none", "worst-case"),
        ("lowpass-r8", "worst-case"),
    }
    # several attacks and no worst-case row (hand-made): no single row to check
    assert reported_cells(grid(["fgsm", "pgd"], [8])) == []


def test_autoattack_groups_are_skipped():
    cells = grid(["pgd", "autoattack:apgd-ce", "autoattack", "worst-case"], [8])
    assert reported_cells(cells) == []
    mixed = [c for c in grid(["pgd"], [8])] + [cell("smooth-rho1", "adaptive", "autoattack", 8)]
    assert {c.defense for c in reported_cells(mixed)} == {"none", "lowpass-r8"}


def test_no_attacked_rows_means_nothing_to_check():
    assert reported_cells(grid(["pgd"], [0])) == []


# ---- the summary ----


def test_summary_status_detail_and_records():
    bare, low = cell("none", "whitebox", "pgd", 8), cell("lowpass-r8", "adaptive", "pgd", 8)
    rows = [(low, verdict(202, 1000, 20, 1)), (bare, verdict(186, 1000, 20, 8))]
    check = summarize(rows, 20)
    assert check.name == CHECK_NAME and check.status == "warn"  # PGD rows are upper bounds: overstated warns
    assert check.detail.startswith("none whitebox pgd: 8 of 20")  # the most overstated row first
    assert f"{100 * 0.186 * 8 / 20:.1f} points" in check.detail and "--attack autoattack" in check.detail
    assert [r["cell"] for r in check.data["rows"]] == [low.key, bare.key]
    assert check.data["rows"][1]["overstated"] and check.data["rows"][1]["status"] == "warn"
    assert not check.data["rows"][0]["overstated"] and check.data["rows"][0]["status"] in ("pass", "warn")
    assert "overstated, warn" in check.detail
    masked = summarize(
        rows + [(cell("lowpass-r4", "adaptive", "pgd", 8), verdict(900, 1000, 37, 7, square_only=7))], 20
    )
    assert masked.status == "fail" and "gradients are masked" in masked.detail
    passing = summarize([(low, verdict(202, 1000, 20, 0))], 20)
    assert passing.status == "pass" and "--attack autoattack" not in passing.detail


def test_summary_names_a_row_whose_power_is_low():
    busy = cell("none", "whitebox", "pgd", 8)
    check = summarize([(busy, verdict(800, 1000, 20, 0))], 20)
    needed = sample_size(800, 1000)
    assert check.status == "pass" and f"--spot-check {needed}" in check.detail and needed > 20
    assert power(needed, 800, 1000) >= 0.9 > power(needed - 1, 800, 1000)


# ---- the documented budgets are the code's ----


def test_docs_state_the_budgets_of_the_code():
    """The docs (the sanity checks page and the bench options table), the module docstring and --help (built
    from the constants) say the same attacks and budgets."""
    phrase = defaults.spot_check_budget_text()
    steps, queries = defaults.SPOT_CHECK_STEPS, defaults.SPOT_CHECK_QUERIES
    assert f"APGD-CE ({steps} steps)" in phrase and f"Square ({queries} queries)" in phrase
    assert (
        "the likeliest wrong class"
        if defaults.SPOT_CHECK_TARGETS == 1
        else f"the {defaults.SPOT_CHECK_TARGETS} likeliest wrong classes"
    ) in phrase
    checks_page = (ROOT / "docs" / "guide" / "checks.md").read_text()
    section = checks_page[checks_page.index("**strong-attack spot check**") :]
    section = " ".join(section[: section.index("\n* optional")].split())
    assert phrase in section and f"N = {defaults.DEFAULT_SPOT_CHECK}" in section
    options_page = (ROOT / "docs" / "guide" / "bench.md").read_text()
    option = next(line for line in options_page.splitlines() if line.startswith("| `--spot-check N`"))
    assert option.endswith(f"| {defaults.DEFAULT_SPOT_CHECK} |")  # the options table's default
    assert re.findall(r"(\d[\d,]*) queries", section) == [str(queries)]  # no other query budget stated
    source = (ROOT / "hfc_robust" / "checks" / "spotcheck.py").read_text()
    assert phrase in " ".join(source[: source.index('"""', 3)].split())
