"""`hfc-robust report --format html` and `hfc-robust leaderboard`: pages opened in headless
Chromium (images loaded, every results.csv row in the table, links that resolve, a
screenshot), the citable rule against an independent transcription, refusals, Markdown."""

from __future__ import annotations

import html
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest
from click.testing import CliRunner

from hfc_robust.cli import main

N = 60
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHROMIUM = next((path for path in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if path), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
# Runs after the load event, when every image has loaded or failed; writes what the test reads into the DOM.
PROBE = """<script>
window.addEventListener("load", function () {
  var result = {
    images: Array.from(document.images).map(function (i) {
      return {alt: i.alt, complete: i.complete, width: i.naturalWidth}; }),
    cells: Array.from(document.querySelectorAll("#results-table tbody tr")).map(function (r) {
      return r.dataset.cell; }),
    headline: Array.from(document.querySelectorAll("#headline-table tbody tr")).map(function (r) {
      return {status: r.dataset.status, verdict: r.querySelector("td.verdict").textContent}; }),
    checks: Array.from(document.querySelectorAll("#checks li.check")).map(function (li) {
      return {status: li.dataset.status, color: getComputedStyle(li).borderLeftColor}; }),
    command: (document.querySelector("#command") || {}).textContent || null,
    board: Array.from(document.querySelectorAll("table.leaderboard tbody tr")).map(function (r) {
      return {model: r.dataset.model, defense: r.dataset.defense, acc: r.querySelector(".acc").textContent,
              href: r.querySelector("a").href}; }),
    external: Array.from(document.querySelectorAll("[src],[href]")).map(function (e) {
      return e.getAttribute("src") || e.getAttribute("href"); })
      .filter(function (u) { return /^(https?:)?\\/\\//.test(u); })
  };
  var out = document.createElement("pre");
  out.id = "hfc-probe";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=120
    )


def open_in_browser(page: Path, tmp_path: Path) -> dict:
    """Load a copy of ``page`` (beside it, so relative links still resolve) with the probe; return what it saw."""
    probe = page.with_name(page.stem + ".probe.html")
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    try:
        dom = _chromium(tmp_path, "--dump-dom", "--virtual-time-budget=10000", probe.resolve().as_uri()).stdout
    finally:
        probe.unlink()
    start = dom.index('<pre id="hfc-probe">') + len('<pre id="hfc-probe">')
    return json.loads(html.unescape(dom[start : dom.index("</pre>", start)]))


def screenshot(page: Path, tmp_path: Path, shot: Path, size=(1280, 2400)) -> tuple[int, int]:
    _chromium(tmp_path, f"--screenshot={shot}", f"--window-size={size[0]},{size[1]}", page.resolve().as_uri())
    data = shot.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def expected_citable(table: pd.DataFrame, eps_255: float) -> dict[str, float]:
    """The rule as the README states it, transcribed independently: defense segment of the cell ->
    accuracy of the adaptive (whitebox for none) row of autoattack, else worst-case, else the one attack."""
    rows = table[(table["eps_255"] - eps_255).abs() < 1e-6].copy()
    rows["key"] = rows["cell"].str.split("/").str[2]
    out = {}
    for key, part in rows.groupby("key"):
        part = part[part["threat_model"] == ("whitebox" if key == "none" else "adaptive")]
        attacks = set(part["attack"])
        attack = "autoattack" if "autoattack" in attacks else "worst-case" if "worst-case" in attacks else attacks.pop()
        out[key] = float(part.loc[part["attack"] == attack, "accuracy"].iloc[0])
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("html")
    natural, robust = root / "natural", root / "robust"
    for out, args in (
        (natural, ["--attack", "fgsm,pgd", "--eps", "2/255,8/255", "--radius", "4"]),
        (
            robust,
            ["--model", "fmnist-cnn-at", "--attack", "pgd", "--eps", "8/255", "--rho", "0.5", "--smooth-normalize"],
        ),
    ):
        result = invoke("bench", *args, "--n", N, "--threads", "1", "--quiet", "--no-spot-check", "--out", out)
        assert result.exit_code == 0, result.output
    return {"natural": natural, "robust": robust, "root": root}


@needs_chromium
def test_report_page_in_a_browser(runs, tmp_path):
    run = runs["natural"]
    result = invoke("report", run, "--format", "html")
    assert result.exit_code == 0, result.output
    page = run / "report.html"
    seen = open_in_browser(page, tmp_path)
    pngs = sorted(p.name for p in run.glob("*.png"))
    assert len(pngs) >= 2 and sorted(i["alt"] for i in seen["images"]) == pngs
    assert all(i["complete"] and i["width"] > 0 for i in seen["images"]), seen["images"]
    table = pd.read_csv(run / "results.csv")
    assert seen["cells"] == list(table["cell"])  # every row of results.csv, in order
    # fgsm,pgd without a spot check: every headline row is an upper bound without an estimate, none citable
    assert len(seen["headline"]) == 4 and {h["status"] for h in seen["headline"]} == {"upper bound"}
    assert all(
        "how much it overstates is unknown" in h["verdict"] and "--attack autoattack" in h["verdict"]
        for h in seen["headline"]
    )
    checks = json.loads((run / "checks.json").read_text())
    assert [c["status"] for c in seen["checks"]] == [c["status"] for c in checks]
    colors = {c["status"]: c["color"] for c in seen["checks"]}
    assert len(set(colors.values())) == len(colors)  # each status has its own colour
    command = json.loads((run / "run.json").read_text())["command"]
    assert shlex.split(seen["command"]) == command
    assert seen["external"] == []  # works offline: nothing from a CDN
    width, height = screenshot(page, tmp_path, tmp_path / "report.png")
    assert (width, height) == (1280, 2400)


def test_report_page_is_self_contained_and_reproducible(runs, tmp_path):
    run = runs["natural"]
    first, second = tmp_path / "a.html", tmp_path / "b.html"
    for target in (first, second):
        result = invoke("report", run, "--format", "html", "--no-plots", "-o", target)
        assert result.exit_code == 0, result.output
    text = first.read_text()
    assert text == second.read_text()
    assert text.count('src="data:image/png;base64,') == len(list(run.glob("*.png")))
    table = pd.read_csv(run / "results.csv")
    assert text.count('<tr class="threat-adaptive') >= (table["threat_model"] == "adaptive").sum()
    for key, accuracy in expected_citable(table, 8.0).items():  # the headline rows are the rule's rows
        assert f'data-defense="{key}"' in text and f"{100 * accuracy:.1f}" in text
    assert "http://" not in text and "https://" not in text


def test_report_escapes_names(tmp_path):
    table = (
        "dataset,model,defense,radius,rho,attack,eps,eps_255,threat_model,n,correct,accuracy,ci_low,ci_high,cell\n"
        "d,<script>alert(1)</script>,none,,,none,0.0,0.0,clean,10,9,0.9,0.6,0.98,d/m/none/clean/none/eps=0.0000000\n"
    )
    (tmp_path / "results.csv").write_text(table)
    result = invoke("report", tmp_path, "--format", "html", "--no-plots")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report.html").read_text()
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


@needs_chromium
def test_leaderboard_page_in_a_browser(runs, tmp_path):
    board = runs["root"] / "boards" / "board.html"
    result = invoke("leaderboard", runs["natural"], runs["robust"], "--out", board)
    assert result.exit_code == 0, result.output
    seen = open_in_browser(board, tmp_path)
    expected = {}
    for name in ("natural", "robust"):
        table = pd.read_csv(runs[name] / "results.csv")
        model = table["model"].iloc[0]
        expected.update({(model, key): acc for key, acc in expected_citable(table, 8.0).items()})
    got = {(row["model"], row["defense"]): float(row["acc"]) for row in seen["board"]}
    assert got.keys() == expected.keys()  # one row per (model, defense)
    assert all(got[k] == pytest.approx(100 * v, abs=0.051) for k, v in expected.items())
    accuracies = [float(row["acc"]) for row in seen["board"]]
    assert accuracies == sorted(accuracies, reverse=True)
    for row in seen["board"]:  # every report link resolves to a page the command wrote
        target = Path(unquote(urlparse(row["href"]).path))
        assert target.is_file() and target.name == "report.html"
    assert seen["external"] == []
    width, _ = screenshot(board, tmp_path, tmp_path / "board.png", size=(1280, 900))
    assert width == 1280


def _copy_run(source: Path, target: Path, edit_run=None) -> Path:
    shutil.copytree(source, target)
    for stale in target.glob("report*.html"):
        stale.unlink()
    if edit_run:
        run = json.loads((target / "run.json").read_text())
        edit_run(run)
        (target / "run.json").write_text(json.dumps(run))
    return target


def test_leaderboard_markdown_default_eps_and_refusals(runs, tmp_path):
    natural = runs["natural"]
    md = tmp_path / "board.md"
    result = invoke("leaderboard", natural, runs["robust"], "--out", md)
    assert result.exit_code == 0, result.output
    text = md.read_text()
    assert "eps = 8/255" in text  # the largest eps both runs have
    links = re.findall(r"\| \[report\]\(([^)]+)\) \|", text)
    assert len(links) == 4  # (none, lowpass r=4) of one model, (none, smooth) of the other
    assert all((md.parent / link).is_file() for link in links)  # relative to the board, written when missing
    only_small = invoke("leaderboard", natural, "--eps", "2/255", "--out", tmp_path / "small.md", "--no-reports")
    assert only_small.exit_code == 0 and "eps = 2/255" in (tmp_path / "small.md").read_text()

    # a run on other images: refused with one line, nothing written; --group ranks each sample apart
    def other_sample(run):
        run["dataset"]["sha256"] = "0" * 64

    other = _copy_run(natural, tmp_path / "other", edit_run=other_sample)
    refused = invoke("leaderboard", natural, other, "--out", tmp_path / "refused.html")
    assert refused.exit_code == 2 and refused.output.count("\n") == 1 and "different samples" in refused.output
    assert not (tmp_path / "refused.html").exists()
    grouped = invoke("leaderboard", natural, other, "--group", "--out", tmp_path / "grouped.md", "--no-reports")
    assert grouped.exit_code == 0, grouped.output
    grouped_text = (tmp_path / "grouped.md").read_text()
    assert grouped_text.count("\n## ") == 2 and "not comparable" in grouped_text

    # a run without the chosen eps: refused
    missing = invoke("leaderboard", natural, runs["robust"], "--eps", "2/255", "--out", tmp_path / "missing.html")
    assert missing.exit_code == 2 and "no attacked rows at eps 2/255" in missing.output
    assert not (tmp_path / "missing.html").exists()
    no_run_json = _copy_run(natural, tmp_path / "bare")
    (no_run_json / "run.json").unlink()
    refused = invoke("leaderboard", no_run_json, "--out", tmp_path / "x.html")
    assert refused.exit_code == 2 and "run.json" in refused.output


def test_leaderboard_keeps_the_lowest_of_duplicate_evaluations(runs, tmp_path):
    # the same model and defense evaluated twice: the copy claims a lower number, and must win
    copy = _copy_run(runs["natural"], tmp_path / "again")
    table = pd.read_csv(copy / "results.csv")
    table.loc[
        (table["defense"] == "none") & (table["attack"] == "worst-case") & (table["eps_255"] == 8), "accuracy"
    ] = 0.01
    table.to_csv(copy / "results.csv", index=False)
    result = invoke("leaderboard", runs["natural"], copy, "--out", tmp_path / "dup.md", "--no-reports")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "dup.md").read_text()
    assert text.count("| [report](") == 2 and "**1.0**" in text and "set aside" in text


def test_results_pages_do_not_import_torch():
    code = (
        "import sys, hfc_robust.results.html, hfc_robust.results.leaderboard, hfc_robust.results.citable;"
        "print(sorted(m for m in ('torch', 'torchattacks', 'torchvision') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.strip() == "[]"
