"""The rules of the reproduction predate the results they decide: for every experiment of issue 26,
the commit that added its rule module is an ancestor of the first commit that added its results
(git history; skipped outside a git checkout or before the results are committed)."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import ROOT

#: rule module -> the results it decides (the stored Fig. 2 predictions and the BatchNorm Table 2
#: grids predate issue 26: their rules say so, and are not in this list)
DECIDES = {
    "label_shuffle": "results/paper/fig3",
    "heuristics": "results/paper/heuristics",
    "table1": "results/paper/table1",
    "spectrum": "results/paper/svd",
    "kernels": "results/paper/kernels",
    "smoothing": "results/paper/table2_paper",
}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()


def _first_commit(path: str) -> str | None:
    log = _git("log", "--diff-filter=A", "--format=%H", "--", path).split("\n")
    return log[-1] if log and log[-1] else None


@pytest.mark.parametrize("rule, results", sorted(DECIDES.items()))
def test_the_rule_was_committed_before_its_results(rule, results):
    try:
        _git("rev-parse", "--git-dir")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    rule_commit = _first_commit(f"hfc_robust/paper/rules/{rule}.py")
    results_commit = _first_commit(results)
    if results_commit is None:
        pytest.skip(f"{results} is not committed yet")
    assert rule_commit is not None, f"rules/{rule}.py is not committed"
    assert rule_commit != results_commit, f"rules/{rule}.py and {results} were added in the same commit"
    ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", rule_commit, results_commit], cwd=ROOT)
    assert ancestor.returncode == 0, (
        f"rules/{rule}.py ({rule_commit[:8]}) is not older than {results} ({results_commit[:8]})"
    )


def test_a_reformatting_is_not_a_change_of_the_rule(tmp_path):
    """REPRODUCTION.md's rule table names the last commit that changed a rule's code; a commit that only
    re-wraps it (the same syntax tree) is listed as a reformatting, and a changed threshold is a change."""
    from hfc_robust.paper.verdicts.report import rule_commits

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    def commit(text: str, message: str) -> str:
        rule.write_text(text)
        git("add", ".")
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, capture_output=True, text=True)
        return out.stdout.strip()

    git("init", "-q")
    rule = tmp_path / "hfc_robust" / "paper" / "rules" / "demo.py"
    rule.parent.mkdir(parents=True)
    added = commit('"""A rule."""\nTHRESHOLD = (0.1,\n    0.2)\n', "add")
    wrapped = commit('"""A rule."""\n\nTHRESHOLD = (0.1, 0.2)  # re-wrapped\n', "format")
    assert rule_commits(tmp_path, ["demo"])["demo"].startswith(f"added in {added}")
    assert "last changed" not in rule_commits(tmp_path, ["demo"])["demo"]
    assert f"reformatted only, the same code: {wrapped}" in rule_commits(tmp_path, ["demo"])["demo"]
    changed = commit('"""A rule."""\n\nTHRESHOLD = (0.1, 0.25)\n', "change")
    assert f"last changed in {changed}" in rule_commits(tmp_path, ["demo"])["demo"]
