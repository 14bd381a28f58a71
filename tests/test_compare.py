"""`hfc-robust compare`: exit codes, refusals, p-values and the committed baseline."""

from __future__ import annotations

import gzip
import json
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from hfc_robust.cli import main
from hfc_robust.cli.parsing import parse_number_list
from hfc_robust.results.compare import compare_runs, load_side

from .conftest import ROOT

N = 100  # 3 points = 3 examples, so an edit of exactly 3 points is possible
GRID = ["--attack", "fgsm,pgd", "--eps", "2/255,8/255", "--radius", "4", "--n", str(N), "--quiet", "--no-spot-check"]
EDITED = ("lowpass", 4.0, "adaptive", "pgd", 8)  # defense, radius, threat, attack, eps in 1/255


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compare") / "base"
    result = invoke("bench", *GRID, "--out", out)
    assert result.exit_code == 0, result.output
    return out


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def edit_row(run_dir: Path, delta_examples: int) -> pd.Series:
    """Move the EDITED row's correct count by ``delta_examples`` (and its accuracy), as a hand edit would."""
    path = run_dir / "results.csv"
    table = pd.read_csv(path)
    defense, radius, threat, attack, eps255 = EDITED
    mask = (
        (table["defense"] == defense)
        & (table["radius"] == radius)
        & (table["threat_model"] == threat)
        & (table["attack"] == attack)
        & ((table["eps_255"] - eps255).abs() < 1e-6)
    )
    assert mask.sum() == 1
    table.loc[mask, "correct"] += delta_examples
    table.loc[mask, "accuracy"] = table.loc[mask, "correct"] / table.loc[mask, "n"]
    table.to_csv(path, index=False, float_format="%.6f")
    return table[mask].iloc[0]


def one_error_line(result) -> str:
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0]


def test_identical_runs_exit_0(base_run):
    result = invoke("compare", base_run, base_run)
    assert result.exit_code == 0, result.output
    assert "OK:" in result.output and "FAIL" not in result.output
    assert "mcnemar" in result.output  # both sides carry examples.csv.gz


def test_baseline_row_3_points_higher_fails_with_readable_table(base_run, tmp_path):
    baseline = copy_run(base_run, tmp_path / "edited")
    edited = edit_row(baseline, +3)
    markdown = tmp_path / "cmp.md"
    result = invoke("compare", baseline, base_run, "--markdown", markdown)
    assert result.exit_code == 1, result.output
    failing = [line for line in result.output.splitlines() if "FAIL" in line and "lowpass r=4" in line]
    assert len(failing) == 1, result.output
    assert "adaptive" in failing[0] and "pgd" in failing[0] and "8/255" in failing[0] and "-3.0" in failing[0]
    assert f"{100 * edited['accuracy']:.1f}" in failing[0]
    assert "1 moved by more than 0.5 points" in result.output
    text = markdown.read_text()
    assert re.search(r"\*\*lowpass r=4\*\* \| \*\*adaptive\*\* \| \*\*pgd\*\* \| \*\*8/255\*\*.*\*\*-3\.0\*\*", text), (
        text
    )
    # the edited row no longer matches the per-example records: the two-proportion test is used there
    assert "does not match results.csv for 1 row" in result.output


def test_rise_counts_too_and_tol_is_inclusive(base_run, tmp_path):
    new = copy_run(base_run, tmp_path / "new")
    edit_row(new, +1)  # robust accuracy *rises* by 1 point: a weaker attack is a regression too
    assert invoke("compare", base_run, new).exit_code == 1
    assert invoke("compare", base_run, new, "--tol", "1").exit_code == 0  # exactly tol points is allowed
    assert invoke("compare", base_run, new, "--tol", "0.99").exit_code == 1


def test_alpha_requires_significance(base_run, tmp_path):
    new = copy_run(base_run, tmp_path / "new")
    edited = edit_row(new, -3)
    assert invoke("compare", base_run, new).exit_code == 1
    # 3 of 100 examples is not significant: with --significance the move is reported but passes
    p = stats.fisher_exact(
        [[edited["correct"] + 3, N - edited["correct"] - 3], [edited["correct"], N - edited["correct"]]]
    ).pvalue
    assert p > 0.05
    result = invoke("compare", base_run, new, "--significance", "0.05")
    assert result.exit_code == 0, result.output
    assert "-3.0" in result.output


def test_missing_configuration_fails_unless_allowed(base_run, tmp_path):
    new = copy_run(base_run, tmp_path / "new")
    table = pd.read_csv(new / "results.csv")
    dropped = table[(table["defense"] == "none") & (table["attack"] == "fgsm")].index[0]
    table.drop(index=dropped).to_csv(new / "results.csv", index=False, float_format="%.6f")
    result = invoke("compare", base_run, new)
    assert result.exit_code == 1, result.output
    assert "missing" in result.output and "none whitebox fgsm 2/255 (L∞): baseline only" in result.output
    result = invoke("compare", base_run, new, "--allow-missing")
    assert result.exit_code == 0, result.output
    assert "(allowed)" in result.output


@pytest.mark.parametrize(
    "column, value, words", [("dataset", "cifar10", "different datasets"), ("model", "resnet20", "different models")]
)
def test_refuses_different_dataset_or_model(base_run, tmp_path, column, value, words):
    new = copy_run(base_run, tmp_path / "new")
    table = pd.read_csv(new / "results.csv")
    table[column] = value
    table.to_csv(new / "results.csv", index=False, float_format="%.6f")
    result = invoke("compare", base_run, new)
    assert result.exit_code == 2
    assert words in one_error_line(result)


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("sha256", "0" * 64, "dataset contents"),
        ("n", N + 1, "sample size"),
        ("indices", [[0, 49], [60, 109]], "sample indices"),
    ],
)
def test_refuses_different_sample_sets(base_run, tmp_path, field, value, words):
    new = copy_run(base_run, tmp_path / "new")
    run = json.loads((new / "run.json").read_text())
    run["dataset"][field] = value
    (new / "run.json").write_text(json.dumps(run))
    result = invoke("compare", base_run, new)
    assert result.exit_code == 2
    assert words in one_error_line(result)


def test_run_json_records_the_sample_as_index_ranges(base_run):
    assert json.loads((base_run / "run.json").read_text())["dataset"]["indices"] == [[0, N - 1]]


def test_older_runs_without_indices_still_compare(base_run, tmp_path):
    # runs written before the indices were recorded hold "indices": null for a contiguous sample
    old = copy_run(base_run, tmp_path / "old")
    run = json.loads((old / "run.json").read_text())
    run["dataset"]["indices"] = None
    (old / "run.json").write_text(json.dumps(run))
    assert invoke("compare", old, base_run).exit_code == 0


def test_refuses_different_n_in_bare_csvs(base_run, tmp_path):
    csv = tmp_path / "other.csv"
    table = pd.read_csv(base_run / "results.csv")
    table["n"] = N + 20
    table.to_csv(csv, index=False)
    result = invoke("compare", base_run / "results.csv", csv)
    assert result.exit_code == 2
    assert "different sample sizes" in one_error_line(result)


def test_refuses_different_model_weights(base_run, tmp_path):
    new = copy_run(base_run, tmp_path / "new")
    run = json.loads((new / "run.json").read_text())
    run["model"]["sha256"] = "f" * 64
    (new / "run.json").write_text(json.dumps(run))
    assert "different model weights" in one_error_line(invoke("compare", base_run, new))


@pytest.mark.parametrize("make_bad", ["missing", "garbage"])
def test_bad_input_is_one_line_exit_2(base_run, tmp_path, make_bad):
    bad = tmp_path / "bad"
    if make_bad == "garbage":
        bad.mkdir()
        (bad / "results.csv").write_bytes(b"\x00\x01 not,a\ncsv")
    result = invoke("compare", base_run, bad)
    assert result.exit_code == 2
    one_error_line(result)


# ----------------------------------------------------------------- p-values on a hand-made case


def _tiny_run(directory: Path, robust: list[int], with_examples: bool = True) -> Path:
    """A one-row run directory whose per-example outcomes are ``robust``."""
    directory.mkdir()
    n, correct = len(robust), sum(robust)
    cell = "fmnist/fmnist-cnn/none/whitebox/pgd/eps=0.0313725"
    pd.DataFrame(
        [
            {
                "dataset": "fmnist",
                "model": "fmnist-cnn",
                "defense": "none",
                "radius": None,
                "rho": None,
                "attack": "pgd",
                "eps": 8 / 255,
                "eps_255": 8.0,
                "threat_model": "whitebox",
                "n": n,
                "correct": correct,
                "accuracy": correct / n,
                "ci_low": 0.0,
                "ci_high": 1.0,
                "cell": cell,
            }
        ]
    ).to_csv(directory / "results.csv", index=False, float_format="%.6f")
    if with_examples:
        examples = pd.DataFrame(
            {"cell": cell, "index": range(n), "label": 0, "clean_pred": 0, "adv_pred": 0, "robust": robust}
        )
        with gzip.open(directory / "examples.csv.gz", "wt") as handle:
            examples.to_csv(handle, index=False)
    return directory


BASE_OUTCOMES = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
NEW_OUTCOMES = [0, 0, 0, 0, 1, 1, 1, 0, 0, 0]  # 4 pairs robust only in base, 1 only in new


def test_mcnemar_p_value_matches_hand_computation(tmp_path):
    base = _tiny_run(tmp_path / "a", BASE_OUTCOMES)
    new = _tiny_run(tmp_path / "b", NEW_OUTCOMES)
    row = compare_runs(load_side(base), load_side(new)).rows.iloc[0]
    assert row["test"] == "mcnemar"
    assert row["discordant"] == "4/1"
    # exact McNemar: two-sided binomial tail of 1 success in 5 fair trials = 2 * (1 + 5) / 32
    assert row["p_value"] == pytest.approx(2 * (1 + 5) / 32)
    assert row["p_value"] == pytest.approx(stats.binomtest(1, 5, 0.5).pvalue)
    assert row["delta_pts"] == pytest.approx(-30.0)


def test_two_proportion_fallback_without_examples(tmp_path):
    base = _tiny_run(tmp_path / "a", BASE_OUTCOMES, with_examples=False)
    new = _tiny_run(tmp_path / "b", NEW_OUTCOMES)
    row = compare_runs(load_side(base), load_side(new)).rows.iloc[0]
    assert row["test"] == "2-prop"
    # 6/10 vs 3/10: Fisher's exact test on the 2x2 table, two-sided
    assert row["p_value"] == pytest.approx(stats.fisher_exact([[6, 4], [3, 7]]).pvalue)
    result = invoke("compare", base, new)
    assert result.exit_code == 1 and "2-prop" in result.output


# ----------------------------------------------------------------- the committed baseline

BASELINE = ROOT / "results" / "baseline"


def test_committed_baseline_grid():
    table = pd.read_csv(BASELINE / "results.csv")
    run = json.loads((BASELINE / "run.json").read_text())
    assert run["config"]["attacks"] == ["fgsm", "pgd"]
    assert [round(255 * e) for e in run["config"]["eps"]] == [2, 8]
    assert run["config"]["radii"] == [4.0, 8.0]
    assert {"oblivious", "adaptive"} <= set(table["threat_model"])
    assert run["dataset"]["name"] == "fmnist" and run["model"]["sha256"]
    for name in ("examples.csv.gz", "accuracy_vs_eps.png", "accuracy_vs_radius.png"):
        assert (BASELINE / name).is_file()


def test_ci_regenerates_the_baseline_grid_and_compares():
    script = (ROOT / ".ci" / "run").read_text()
    run = json.loads((BASELINE / "run.json").read_text())
    grid = re.search(r"hfc-robust bench (.*) --out", script)
    assert grid, "the CI script must regenerate the grid with hfc-robust bench"
    args = grid.group(1).split()
    value = {name: args[args.index(name) + 1] for name in ("--n", "--attack", "--eps", "--radius", "--seed")}
    assert int(value["--n"]) == run["dataset"]["n"] == run["config"]["n"]
    assert value["--attack"].split(",") == run["config"]["attacks"]
    assert sorted(parse_number_list(value["--eps"])) == pytest.approx(run["config"]["eps"])
    assert [float(r) for r in value["--radius"].split(",")] == run["config"]["radii"]
    assert int(value["--seed"]) == run["config"]["seed"]
    # pinned to the CPU the baseline was made on (the default, auto, would pick a GPU where there is one)
    assert args[args.index("--device") + 1] == "cpu" and run["device"]["device"] == "cpu"
    assert "hfc-robust compare results/baseline" in script
    # the docs' one update command (Comparing runs, "Regression baseline") uses the same grid
    docs = (ROOT / "docs" / "guide" / "compare.md").read_text()
    assert f"hfc-robust bench {grid.group(1)} --out results/baseline" in docs


def _baseline_copy(dst: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    shutil.copytree(BASELINE, dst)
    return pd.read_csv(dst / "results.csv"), pd.read_csv(dst / "examples.csv.gz")


def _write(dst: Path, table: pd.DataFrame, examples: pd.DataFrame) -> None:
    table.to_csv(dst / "results.csv", index=False, float_format="%.6f")
    with gzip.open(dst / "examples.csv.gz", "wt") as handle:
        examples.to_csv(handle, index=False)


def test_committed_baseline_against_a_copy_with_one_row_moved(tmp_path):
    """Five examples of one committed row turned non-robust (the table and the per-example records
    agree): compare fails that row alone, paired, with the exact McNemar p-value computed here."""
    new = tmp_path / "moved"
    table, examples = _baseline_copy(new)
    row = table[
        (table["threat_model"] == "adaptive")
        & (table["attack"] == "pgd")
        & (table["radius"] == 8)
        & ((table["eps_255"] - 2).abs() < 1e-6)
    ].iloc[0]
    robust = examples[(examples["cell"] == row["cell"]) & (examples["robust"] == 1)].index[:5]
    assert len(robust) == 5
    examples.loc[robust, "robust"] = 0
    table.loc[table["cell"] == row["cell"], "correct"] -= 5
    table.loc[table["cell"] == row["cell"], "accuracy"] = table["correct"] / table["n"]
    _write(new, table, examples)
    result = compare_runs(load_side(BASELINE), load_side(new))
    moved = result.rows[result.rows["delta_pts"] != 0]
    assert len(result.rows) == len(table) and len(moved) == 1
    assert moved.iloc[0]["test"] == "mcnemar" and moved.iloc[0]["discordant"] == "5/0"
    assert moved.iloc[0]["delta_pts"] == pytest.approx(-100 * 5 / int(row["n"]))
    assert moved.iloc[0]["p_value"] == pytest.approx(2 * math.comb(5, 0) / 2**5)  # two-sided exact binomial
    assert invoke("compare", BASELINE, new).exit_code == 1


def test_committed_baseline_pairs_with_a_run_written_before_the_norm_existed(tmp_path):
    """The same outcomes in engine 1's format (keys without the norm, no norm column) pair row by row
    with the committed run: every row tested with McNemar, nothing moved."""
    old = tmp_path / "engine1"
    table, examples = _baseline_copy(old)
    old_key = {key: key.replace("/linf/eps=", "/eps=") for key in table["cell"]}
    assert all(key != old_key[key] for key in old_key)
    table["cell"], examples["cell"] = table["cell"].map(old_key), examples["cell"].map(old_key)
    _write(old, table.drop(columns=["norm"]), examples)
    result = compare_runs(load_side(old), load_side(BASELINE))
    assert len(result.rows) == len(table) and (result.rows["test"] == "mcnemar").all()
    assert not result.failed and (result.rows["delta_pts"] == 0).all()


def test_runs_with_spectrum_columns_compare_with_the_committed_baseline(base_run, tmp_path):
    """A run written now (with energy_inside_radius / inband_l2) compares with one written before them."""
    assert {"energy_inside_radius", "inband_l2"} <= set(pd.read_csv(base_run / "results.csv").columns)
    old = copy_run(base_run, tmp_path / "old")
    table = pd.read_csv(old / "results.csv").drop(columns=["energy_inside_radius", "inband_l2"])
    table.to_csv(old / "results.csv", index=False)
    assert invoke("compare", old, base_run).exit_code == 0
    assert invoke("compare", base_run, old).exit_code == 0


def test_band_rows_have_their_own_keys_and_a_moved_band_row_fails_alone(tmp_path):
    """Rows that differ only in their band are distinct rows (before, they collided as one key), and
    the failing row names its band."""
    base = tmp_path / "bands"
    result = invoke(
        "bench",
        "--attack",
        "pgd",
        "--eps",
        "8/255",
        "--radius",
        "4",
        "--band",
        "0-4,8-20,all",
        "--n",
        N,
        "--quiet",
        "--no-spot-check",
        "--out",
        base,
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(base / "results.csv", keep_default_na=False, na_values=[""])
    edited = copy_run(base, tmp_path / "edited")
    moved = edited / "results.csv"
    pick = (table["band"] == "8-20") & (table["threat_model"] == "adaptive")
    assert pick.sum() == 1
    table.loc[pick, "correct"] += 3
    table.loc[pick, "accuracy"] = table.loc[pick, "correct"] / table.loc[pick, "n"]
    table.to_csv(moved, index=False, float_format="%.6f")
    same = invoke("compare", base, base)
    assert same.exit_code == 0, same.output
    result = invoke("compare", edited, base)
    assert result.exit_code == 1, result.output
    failing = [line for line in result.output.splitlines() if "FAIL" in line and "│" in line]
    assert len(failing) == 1 and "pgd in 8-20" in failing[0] and "adaptive" in failing[0], result.output
    assert "1 moved by more than 0.5 points" in result.output
