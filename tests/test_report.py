"""`hfc-robust report` and `rerun`, plots in every run directory, and run.json provenance."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from hfc_robust.cli import main
from hfc_robust.results.render import latex_document, latex_escape, latex_table

N = 60
GRID = ["--attack", "fgsm,pgd", "--eps", "2/255,8/255", "--radius", "4", "--n", str(N), "--quiet", "--no-spot-check"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("report") / "run"
    result = invoke("bench", *GRID, "--out", out)
    assert result.exit_code == 0, result.output
    return out, result.output


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_bench_writes_plots_and_says_so(run_dir):
    out, output = run_dir
    for name in ("accuracy_vs_eps.png", "accuracy_vs_radius.png"):
        width, height = _png_size(out / name)
        assert width > 200 and height > 150
        assert name in output  # the "wrote ..." line lists what was written
    assert not list(out.glob(".*.partial"))  # atomic writes leave no temporaries


def test_no_radius_plot_without_radii(tmp_path):
    out = tmp_path / "run"
    result = invoke("bench", "--attack", "fgsm", "--n", "30", "--quiet", "--no-spot-check", "--out", out)
    assert result.exit_code == 0, result.output
    _png_size(out / "accuracy_vs_eps.png")
    assert not (out / "accuracy_vs_radius.png").exists()
    assert "accuracy_vs_radius.png" not in result.output


def test_run_json_has_everything_to_rerun(run_dir):
    run = json.loads((run_dir[0] / "run.json").read_text())
    assert isinstance(run["command"], list) and run["command"]
    assert run["seed"] == run["config"]["seed"] == 0
    assert {"torch", "torchattacks", "hfc_robust", "python"} <= set(run["versions"])
    assert re.fullmatch(r"[0-9a-f]{64}", run["model"]["sha256"])
    assert re.fullmatch(r"[0-9a-f]{64}", run["dataset"]["sha256"])
    assert run["dataset"]["n"] == N and f"0..{N - 1}" in run["dataset"]["sample"]


def forbid_model_evaluation(monkeypatch) -> None:
    """Any forward pass of any ``nn.Module`` raises: recomputing a row needs one, whichever module
    the recomputation is reached through (patching ``run_grid`` where it is defined would miss the
    modules that imported it by name)."""

    def no_forward(self, *args, **kwargs):
        raise AssertionError("report must not recompute")

    monkeypatch.setattr(torch.nn.Module, "__call__", no_forward)


def test_the_recompute_guard_fires_on_a_planted_recompute(run_dir, monkeypatch):
    """The guard below is real: a report that evaluates a model (planted here) fails under it."""
    import hfc_robust.results.render as render
    from hfc_robust import load_model

    out, _ = run_dir
    honest = render.render_table

    def recomputing_render(table, *args, **kwargs):
        model = load_model("fmnist-cnn")
        model(torch.zeros(1, 1, 28, 28))  # the planted recomputation
        return honest(table, *args, **kwargs)

    monkeypatch.setattr(render, "render_table", recomputing_render)
    assert invoke("report", out, "--format", "md", "--no-plots").exit_code == 0  # without the guard: unnoticed
    forbid_model_evaluation(monkeypatch)
    result = invoke("report", out, "--format", "md", "--no-plots")
    assert result.exit_code != 0 and isinstance(result.exception, AssertionError), result.output
    assert "must not recompute" in str(result.exception)


def test_report_md_and_csv_rerender_the_stored_files(run_dir, monkeypatch):
    out, _ = run_dir
    forbid_model_evaluation(monkeypatch)
    md = invoke("report", out, "--format", "md", "--no-plots")
    assert md.exit_code == 0, md.output
    assert md.output == (out / "results.md").read_text()
    csv = invoke("report", out, "--format", "csv", "--no-plots")
    assert csv.exit_code == 0, csv.output
    assert csv.output == (out / "results.csv").read_text()


def test_report_rewrites_plots_elsewhere(run_dir, tmp_path):
    out, _ = run_dir
    target = tmp_path / "figs"
    result = invoke("report", out, "--format", "csv", "--plots-dir", target, "--output", tmp_path / "t.csv")
    assert result.exit_code == 0, result.output
    _png_size(target / "accuracy_vs_eps.png")
    _png_size(target / "accuracy_vs_radius.png")
    assert (tmp_path / "t.csv").read_text() == (out / "results.csv").read_text()


def _tabular_rows(tex: str) -> list[str]:
    body = tex.split(r"\begin{tabular}", 1)[1].split(r"\end{tabular}", 1)[0]
    return [line for line in body.splitlines() if line.rstrip().endswith(r"\\")]


def test_report_latex_is_structurally_sound(run_dir):
    out, _ = run_dir
    result = invoke("report", out, "--format", "latex", "--no-plots")
    assert result.exit_code == 0, result.output
    tex = result.output
    for env in ("table", "tabular"):
        assert tex.count(rf"\begin{{{env}}}") == tex.count(rf"\end{{{env}}}") == 1
    assert (
        tex.index(r"\begin{table}")
        < tex.index(r"\begin{tabular}")
        < tex.index(r"\end{tabular}")
        < tex.index(r"\end{table}")
    )
    table = pd.read_csv(out / "results.csv")
    rows = _tabular_rows(tex)
    assert len(rows) == 1 + len(table)  # header + one line per result row
    columns = re.search(r"\\begin\{tabular\}\{([lcr]+)\}", tex).group(1)
    for row in rows:
        assert len(re.findall(r"(?<!\\)&", row)) == len(columns) - 1, row
    assert f"$n = {N}$" in tex
    for _, row in table.iterrows():  # every row carries correct/n and its Wilson interval
        assert f"{row['correct']}/{row['n']}" in tex
        assert f"[{100 * row['ci_low']:.1f}, {100 * row['ci_high']:.1f}]" in tex
    assert r"\caption{" in tex and r"\footnotesize" in tex
    run = json.loads((out / "run.json").read_text())
    assert run["model"]["sha256"][:12] in tex and "seed 0" in tex  # configuration footnote
    assert "$8/255$" in tex and r"\textbf{adaptive}" in tex
    assert tex.count("{") == tex.count("}")


def test_latex_escapes_special_characters(run_dir):
    table = pd.read_csv(run_dir[0] / "results.csv")
    table["model"] = "my_net&co 100%"
    tex = latex_table(table, {"model": {"name": "my_net&co 100%", "sha256": "ab_cd"}, "dataset": {"name": "set#1"}})
    assert r"my\_net\&co 100\%" in tex and r"set\#1" in tex
    assert latex_escape("a_b{c}~^\\") == r"a\_b\{c\}\textasciitilde{}\textasciicircum{}\textbackslash{}"
    text = re.sub(r"\\[a-zA-Z]+|\\.", "", tex)  # drop commands and escaped characters
    assert "_" not in text and "#" not in text
    assert "%" not in text.split("\n", 1)[1]  # only the leading comment line uses %


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (structural test above)")
def test_latex_compiles_with_pdflatex(run_dir, tmp_path):
    result = invoke("report", run_dir[0], "--format", "latex", "--standalone", "--no-plots")
    assert result.exit_code == 0
    assert result.output == latex_document(
        latex_table(
            pd.read_csv(run_dir[0] / "results.csv").assign(eps=lambda t: t["eps_255"] / 255),
            json.loads((run_dir[0] / "run.json").read_text()),
        )
    )
    (tmp_path / "t.tex").write_text(result.output)
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "t.pdf").read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize("args", [["--format", "pdf"], []])
def test_report_bad_input_is_one_line(run_dir, tmp_path, args):
    target = run_dir[0] if args else tmp_path / "missing"
    result = invoke("report", target, *args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output


def test_rerun_reproduces_exactly(run_dir, tmp_path):
    out, _ = run_dir
    again = tmp_path / "again"
    result = invoke("rerun", out, "--out", again, "--quiet")
    assert result.exit_code == 0, result.output
    assert "OK:" in result.output
    for name in ("results.csv", "examples.csv.gz"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
    original, repeated = json.loads((out / "run.json").read_text()), json.loads((again / "run.json").read_text())
    assert repeated["config"] == original["config"]
    assert repeated["dataset"] == original["dataset"] and repeated["model"]["sha256"] == original["model"]["sha256"]


@pytest.mark.parametrize("damage", ["no-run-json", "no-config"])
def test_rerun_refuses_without_config(run_dir, tmp_path, damage):
    broken = tmp_path / "broken"
    shutil.copytree(run_dir[0], broken)
    if damage == "no-run-json":
        (broken / "run.json").unlink()
    else:
        run = json.loads((broken / "run.json").read_text())
        del run["config"]
        (broken / "run.json").write_text(json.dumps(run))
    result = invoke("rerun", broken, "--quiet")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "run.json" in lines[0]
    assert not (broken / "rerun").exists()
