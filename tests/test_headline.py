"""The headline rule on constructed tables and checks (no attacks): "citable" only for an
``autoattack`` row whose checks did not fail; any other headline row is an upper bound, with the
spot check's estimate when checks.json has one; the same labels in results.md, the terminal
table, the HTML report and the leaderboard."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from hfc_robust.cells import Cell
from hfc_robust.checks.paired import Check
from hfc_robust.results.citable import headline_rows
from hfc_robust.results.html import render_report_html
from hfc_robust.results.io import write_run
from hfc_robust.results.leaderboard import build_leaderboard, render_leaderboard
from hfc_robust.results.render import print_table
from hfc_robust.threat import Norm, ThreatModel

EPS = 8 / 255
RUN = {
    "model": {"name": "fmnist-cnn", "sha256": "ab" * 32},
    "config": {"steps": 10, "restarts": 1, "queries": 5000},
    "dataset": {"name": "fmnist", "sha256": "cd" * 32, "n": 1000, "sample": "first 1000 images", "indices": [[0, 999]]},
}


def key(defense: str, threat: str, attack: str, eps: float = EPS) -> str:
    return Cell("fmnist", "fmnist-cnn", defense, threat, attack, ThreatModel(Norm.LINF, eps)).key


def table(attack: str, robust: dict[str, int] | None = None) -> pd.DataFrame:
    """A run of ``attack`` with --radius 8: clean, whitebox (none), oblivious and adaptive (lowpass) rows."""
    robust = robust or {"none": 186, "lowpass-r8": 202}
    rows = [
        ("none", None, "clean", "none", 0.0, 922),
        ("none", None, "whitebox", attack, EPS, robust["none"]),
        ("lowpass-r8", 8.0, "clean", "none", 0.0, 694),
        ("lowpass-r8", 8.0, "oblivious", attack, EPS, 603),
        ("lowpass-r8", 8.0, "adaptive", attack, EPS, robust["lowpass-r8"]),
    ]
    return pd.DataFrame(
        [
            dict(
                dataset="fmnist",
                model="fmnist-cnn",
                defense=d.split("-")[0],
                radius=r,
                rho=None,
                attack=a,
                eps=e,
                eps_255=round(e * 255, 6),
                threat_model=t,
                n=1000,
                correct=c,
                accuracy=c / 1000,
                ci_low=c / 1000 - 0.02,
                ci_high=c / 1000 + 0.02,
                cell=key(d, t, a, e),
            )
            for d, r, t, a, e, c in rows
        ]
    )


def spot(rows: dict[str, tuple[float, float, int]], status: str = "warn") -> dict:
    """checks.json's spot check entry: cell key -> (estimate, lower bound, broken)."""
    return {
        "name": "strong-attack-spot-check",
        "status": status,
        "detail": "...",
        "data": {
            "rows": [
                {
                    "cell": cell,
                    "overestimate_points": est,
                    "lower_bound_points": low,
                    "broken": k,
                    "sampled": 37,
                    "confidence": 0.95,
                }
                for cell, (est, low, k) in rows.items()
            ]
        },
    }


PASSING = [
    {"name": "accuracy-monotone-in-eps", "status": "pass", "detail": ""},
    {"name": "clean-accuracy-kept", "status": "warn", "detail": "lowpass costs points"},
]


def by_defense(frame: pd.DataFrame) -> dict[str, pd.Series]:
    return {row["defense_key"]: row for _, row in frame.iterrows()}


# ---- the rule ----


def test_autoattack_rows_with_passing_checks_are_citable():
    skipped = {"name": "strong-attack-spot-check", "status": "skipped", "detail": "not applicable (AutoAttack)"}
    rows = by_defense(headline_rows(table("autoattack"), PASSING + [skipped], RUN))
    assert {k: r["status"] for k, r in rows.items()} == {"none": "citable", "lowpass-r8": "citable"}
    assert rows["none"]["label"].startswith("AutoAttack: 18.6%, citable")
    assert pd.isna(rows["lowpass-r8"]["estimate"])


def test_autoattack_rows_of_a_run_with_a_failed_check_are_not_citable():
    failed = PASSING + [{"name": "gradient-free-not-below-gradient", "status": "fail", "detail": "masked"}]
    rows = by_defense(headline_rows(table("autoattack"), failed, RUN))
    assert {r["status"] for r in rows.values()} == {"not citable"}
    assert all(
        "gradient-free-not-below-gradient" in r["label"] and "citable:" not in r["label"].replace("not citable", "")
        for r in rows.values()
    )
    # without checks.json nothing says the checks passed: not citable either
    assert set(headline_rows(table("autoattack"), None, RUN)["status"]) == {"not citable"}


def test_pgd_rows_are_upper_bounds_with_the_spot_checks_estimate():
    checks = PASSING + [
        spot({key("none", "whitebox", "pgd"): (7.44, 3.128, 4), key("lowpass-r8", "adaptive", "pgd"): (0.0, 0.0, 0)})
    ]
    rows = by_defense(headline_rows(table("pgd"), checks, RUN))
    bare, low = rows["none"], rows["lowpass-r8"]
    assert bare["status"] == low["status"] == "upper bound"
    assert bare["estimate"] == pytest.approx(7.44) and bare["lower"] == pytest.approx(3.128)
    assert bare["label"] == (
        "PGD-10: 18.6%, upper bound, overstated by ~7.4 points per the spot check (at least 3.1 "
        "with 95% confidence); cite `--attack autoattack`"
    )
    assert low["label"] == (
        "PGD-10: 20.2%, upper bound, the spot check broke none of 37 sampled robust examples; "
        "cite `--attack autoattack`"
    )


def test_fgsm_and_worst_case_rows_are_upper_bounds_too():
    checks = PASSING + [spot({key("none", "whitebox", "fgsm"): (12.0, 8.0, 9)})]
    rows = by_defense(headline_rows(table("fgsm"), checks, RUN))
    assert rows["none"]["label"].startswith("FGSM: 18.6%, upper bound, overstated by ~12.0 points")
    assert rows["lowpass-r8"]["status"] == "upper bound" and pd.isna(rows["lowpass-r8"]["estimate"])
    both = pd.concat([table("fgsm"), table("pgd"), table("worst-case")]).drop_duplicates("cell")
    checks = PASSING + [spot({key("none", "whitebox", "worst-case"): (5.0, 2.0, 3)})]
    rows = by_defense(headline_rows(both, checks, RUN))
    assert rows["none"]["label"].startswith("worst case of FGSM, PGD-10: 18.6%, upper bound, overstated by ~5.0")


def test_without_a_spot_check_an_upper_bound_has_no_estimate():
    disabled = {"name": "strong-attack-spot-check", "status": "skipped", "detail": "disabled (--no-spot-check)"}
    for checks in (PASSING + [disabled], None):
        rows = by_defense(headline_rows(table("pgd"), checks, RUN))
        assert all(r["status"] == "upper bound" and pd.isna(r["estimate"]) for r in rows.values())
        assert rows["none"]["label"] == (
            "PGD-10: 18.6%, upper bound, no spot check ran, so how much it overstates is "
            "unknown; cite `--attack autoattack`"
        )


def test_autoattack_fast_is_an_upper_bound():
    rows = headline_rows(table("autoattack-fast"), PASSING, RUN)
    assert set(rows["status"]) == {"upper bound"}


# ---- every renderer says the same ----


def citable_claims(text: str) -> list[str]:
    """Lines that call something citable (other than "not citable")."""
    return [line for line in text.splitlines() if re.search(r"(?<!not )\bcitable\b", line, re.IGNORECASE)]


def pgd_run(folder: Path, estimate=(9.3, 4.4, 5)) -> Path:
    checks = PASSING + [
        spot({key("none", "whitebox", "pgd"): estimate, key("lowpass-r8", "adaptive", "pgd"): (1.6, 0.2, 3)})
    ]
    write_run(folder, table("pgd"), RUN, checks=checks)
    return folder


def aa_run(folder: Path, robust: dict[str, int]) -> Path:
    write_run(folder, table("autoattack", robust), RUN, checks=PASSING)
    return folder


def test_results_md_labels_the_headline(tmp_path):
    text = (pgd_run(tmp_path / "pgd") / "results.md").read_text()
    assert (
        "- none (undefended), whitebox, 8/255: PGD-10: 18.6%, upper bound, overstated by ~9.3 points per the spot "
        "check (at least 4.4 with 95% confidence); cite `--attack autoattack`"
    ) in text
    assert citable_claims(text) == []
    aa = (aa_run(tmp_path / "aa", {"none": 120, "lowpass-r8": 150}) / "results.md").read_text()
    claims = citable_claims(aa)
    assert len(claims) == 2 and all(line.startswith("- ") and "AutoAttack: " in line for line in claims)


def test_terminal_table_labels_the_headline():
    console = Console(record=True, width=250)
    checks = PASSING + [spot({key("none", "whitebox", "pgd"): (9.3, 4.4, 5)})]
    print_table(table("pgd"), console, checks=[Check(**c) for c in checks], run=RUN)
    text = console.export_text()
    assert "none (undefended), whitebox, 8/255: PGD-10: 18.6%, upper bound, overstated by ~9.3 points" in text
    assert citable_claims(text) == []


def test_html_report_labels_the_headline(tmp_path):
    page = render_report_html(pgd_run(tmp_path / "pgd"))
    headline = page[page.index('<section id="headline">') : page.index('<section id="results">')]
    statuses = re.findall(r'data-status="([^"]+)"', headline)
    assert statuses == ["upper bound", "upper bound"]
    assert "overstated by ~9.3 points per the spot check" in headline and "<code>--attack autoattack</code>" in headline
    rows_only = headline[headline.index("<tbody>") : headline.index("</tbody>")]
    assert citable_claims(rows_only) == []
    aa = render_report_html(aa_run(tmp_path / "aa", {"none": 120, "lowpass-r8": 150}))
    assert re.findall(r'data-status="([^"]+)"', aa[: aa.index('<section id="results">')]) == ["citable", "citable"]


def test_leaderboard_uses_the_same_rule_and_ranks_citable_rows_first(tmp_path):
    pgd = pgd_run(tmp_path / "pgd")
    aa = aa_run(tmp_path / "aa", {"none": 120, "lowpass-r8": 150})
    other = dict(RUN, model={"name": "other-cnn", "sha256": "ef" * 32})
    write_run(
        tmp_path / "other",
        table("autoattack", {"none": 100, "lowpass-r8": 160}).assign(model="other-cnn"),
        other,
        checks=PASSING,
    )
    board = build_leaderboard([pgd, tmp_path / "other", aa], tmp_path / "board.md")
    rows = board.groups[0].rows
    # the fmnist-cnn PGD rows are set aside for the lower AutoAttack ones of the same model and defense
    assert [(r.model, r.defense_key, r.status) for r in rows] == [
        ("other-cnn", "lowpass-r8", "citable"),
        ("fmnist-cnn", "lowpass-r8", "citable"),
        ("fmnist-cnn", "none", "citable"),
        ("other-cnn", "none", "citable"),
    ]
    mixed = build_leaderboard([pgd, tmp_path / "other"], tmp_path / "board.md").groups[0].rows
    assert [(r.model, r.status) for r in mixed][:2] == [("other-cnn", "citable"), ("other-cnn", "citable")]
    assert {r.status for r in mixed[2:]} == {"upper bound"}  # ranked after every citable row, whatever their number
    text = render_leaderboard(build_leaderboard([pgd], tmp_path / "board.md"), "md")
    assert "overstated by ~9.3 points per the spot check" in text
    table_lines = [line for line in text.splitlines() if line.startswith(("| 1 ", "| 2 "))]
    assert len(table_lines) == 2 and citable_claims("\n".join(table_lines)) == []
