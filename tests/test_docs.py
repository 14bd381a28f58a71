"""The docs site (docs/, mkdocs.yml): the README stays short and every section it dropped has a home
there; the published run.json schema is the code's and every committed run folder fits it (checked
with jsonschema, a validator independent of the pydantic model that wrote it); the tutorial
notebook's two paired files agree, and (slow) it runs and its text quotes its own outputs.

`mkdocs build --strict` itself runs in .ci/run, in a virtualenv of its own (DEVELOPERS.md, "Docs").
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time

import jsonschema
import pytest

import hfc_robust as hr
from hfc_robust.results import record

from .conftest import ROOT

DOCS = ROOT / "docs"
SCHEMA = DOCS / "reference" / "run.schema.json"
README_MAX_LINES = 200

#: The README's sections before issue 25 moved the reference to the docs: each old title, the page
#: that holds it now, and its heading there.
MOVED_SECTIONS = {
    "Examples": ("guide/bench.md", "Examples"),
    "`hfc-robust bench` options": ("guide/bench.md", "`hfc-robust bench` options"),
    "Performance": ("guide/performance.md", "Performance"),
    "Scaling: GPUs, Ray and shards": ("guide/scaling.md", "Scaling: GPUs, Ray and shards"),
    "Output": ("guide/output.md", "Output files"),
    "Comparing runs and CI regression tables": ("guide/compare.md", "Comparing runs and CI regression tables"),
    "Regression baseline": ("guide/compare.md", "Regression baseline"),
    "Citable output": ("guide/compare.md", "Citable output"),
    "Threat models": ("guide/threat-models.md", "Threat models"),
    "The L2 threat model (`--norm l2`)": ("guide/threat-models.md", "The L2 threat model (`--norm l2`)"),
    "Which number to cite": ("guide/threat-models.md", "Which number to cite"),
    "Sanity checks": ("guide/checks.md", "Sanity checks"),
    "Perturbation spectra": ("guide/spectra.md", "Perturbation spectra"),
    "Minimal ε per example (`--min-eps`)": ("guide/min-eps.md", "Minimal ε per example (`--min-eps`)"),
    "Fourier heat maps (`hfc-robust heatmap`)": ("guide/heatmap.md", "Fourier heat maps (`hfc-robust heatmap`)"),
    "Common corruptions (`hfc-robust corruptions`)": (
        "guide/corruptions.md",
        "Common corruptions (`hfc-robust corruptions`)",
    ),
    "The paper's conventions, and where its code differs": (
        "paper/conventions.md",
        "The paper's conventions, and where its code differs",
    ),
    "Models": ("models.md", "Models"),
    "Reproducing the paper": ("paper/reproducing.md", "Reproducing the paper"),
    "Data": ("models.md", "Data"),
    "Citing": ("citing.md", "Citing"),
}


def headings(text: str) -> list[str]:
    """The Markdown headings of a page, outside code blocks."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return [match.group(1).strip() for match in re.finditer(r"^#{1,6} (.+)$", text, flags=re.M)]


def slug(heading: str) -> str:
    """Python-Markdown's toc anchor of a heading (the site's; GitHub's agrees on the README's links)."""
    text = re.sub(r"[^\w\s-]", "", heading.replace("`", "")).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def relative_links(text: str) -> list[str]:
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return [link for link in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", link)]


# ---- the README: short, and what it dropped lives in the docs ----


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; the reference belongs in docs/"


def test_every_section_the_readme_dropped_has_a_home_in_the_docs():
    readme = (ROOT / "README.md").read_text()
    for old, (page, heading) in MOVED_SECTIONS.items():
        path = DOCS / page
        assert path.is_file(), f"README section {old!r}: docs/{page} is missing"
        assert heading in headings(path.read_text()), f"README section {old!r}: no heading {heading!r} in docs/{page}"
        assert f"](docs/{page}" in readme, f"README section {old!r} moved to docs/{page}, which the README must link"


def test_readme_and_docs_links_resolve():
    """Relative links point at files that exist, and their #anchors at headings of those files (mkdocs
    checks the docs' own links too, in strict mode; this covers the README, which the site does not build)."""
    sources = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    for source in sources:
        for link in relative_links(source.read_text()):
            target, _, anchor = link.partition("#")
            path = (source.parent / target).resolve() if target else source
            assert path.exists(), f"{source.relative_to(ROOT)}: link {link} points at nothing"
            if anchor and path.suffix == ".md":
                anchors = {slug(heading) for heading in headings(path.read_text())}
                assert anchor in anchors, f"{source.relative_to(ROOT)}: no heading #{anchor} in {target or source.name}"


def test_every_docs_page_is_in_the_nav():
    config = (ROOT / "mkdocs.yml").read_text()
    pages = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md")}
    listed = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", config, flags=re.M))
    assert pages == listed, (
        f"pages missing from mkdocs.yml's nav: {sorted(pages - listed)}; "
        f"nav entries without a page: {sorted(listed - pages)}"
    )


def test_ci_builds_the_docs_strictly_in_a_venv_with_only_the_docs_extra():
    tomllib = pytest.importorskip("tomllib")
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["docs"]
    script = (ROOT / ".ci" / "run").read_text()
    install = next(line for line in script.splitlines() if line.startswith('"$docsvenv/bin/pip" install'))
    assert shlex.split(install)[2:] == ["-q", *extra]  # never `-e .`: no torch, no hfc_robust in that venv
    assert '"$docsvenv/bin/mkdocs" build --strict' in script
    assert re.search(r"^strict: true$", (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    assert "allow_inspection: false" in (ROOT / "mkdocs.yml").read_text()


# ---- run.json's published schema ----


def test_published_schema_is_the_codes(capsys):
    record.main()
    generated = capsys.readouterr().out
    assert SCHEMA.read_text() == generated, (
        "docs/reference/run.schema.json is stale: python -m hfc_robust.results.record > docs/reference/run.schema.json"
    )


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def test_every_committed_run_json_validates_against_the_published_schema():
    validator = _validator()
    folders = sorted((ROOT / "results").rglob("run.json"))
    assert len(folders) >= 10  # the baseline and the paper's runs
    for path in folders:
        errors = sorted(validator.iter_errors(json.loads(path.read_text())), key=lambda error: list(error.path))
        assert not errors, f"{path.relative_to(ROOT)}: {'/'.join(map(str, errors[0].path))}: {errors[0].message}"


def test_the_schema_rejects_what_the_model_rejects():
    """The published schema is not vacuous: a record missing the dataset, or with a wrong type, fails it."""
    validator = _validator()
    good = json.loads((ROOT / "results" / "baseline" / "run.json").read_text())
    assert validator.is_valid(good)
    assert not validator.is_valid({key: value for key, value in good.items() if key != "dataset"})
    assert not validator.is_valid({**good, "dataset": {**good["dataset"], "n": "500"}})
    assert not validator.is_valid({**good, "checks": {"pgd-not-above-fgsm": "maybe"}})


def test_fresh_runs_of_both_kinds_validate_against_the_published_schema(tmp_path):
    validator = _validator()
    hr.benchmark("fmnist-cnn", "fmnist", n=8, batch_size=4, spot_check=0, radii=(8,), out=tmp_path / "bench")
    hr.corruption_benchmark("fmnist-cnn", "fmnist", n=4, corruptions=("fog",), severities=(1,), out=tmp_path / "corr")
    for kind in ("bench", "corr"):
        run = json.loads((tmp_path / kind / "run.json").read_text())
        errors = list(validator.iter_errors(run))
        assert not errors, f"{kind}: {errors[0].message}"


def test_the_run_json_page_names_every_field_of_the_schema():
    page = (DOCS / "reference" / "run-json.md").read_text()
    fields = json.loads(SCHEMA.read_text())["properties"]
    missing = [name for name in fields if f"| `{name}` |" not in page]
    assert not missing, f"docs/reference/run-json.md's table lacks {missing}"


# ---- the tutorial notebook ----


def _cells(notebook) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


def test_tutorial_pair_agrees():
    """docs/tutorial.py and docs/tutorial.ipynb are the same notebook (`jupytext --sync docs/tutorial.py`)."""
    jupytext = pytest.importorskip("jupytext")
    source, paired = jupytext.read(DOCS / "tutorial.py"), jupytext.read(DOCS / "tutorial.ipynb")
    assert _cells(source) == _cells(paired), "run `jupytext --sync docs/tutorial.py`"
    assert not any(cell.get("outputs") for cell in paired.cells), "commit the notebook without outputs"


#: What the tutorial's text says its outputs show: (what, the pattern in the outputs, the value quoted
#: in the text). Quoted values must be in the markdown as written; outputs may differ by float noise
#: across CPUs, by at most TOLERANCE points.
TUTORIAL_CLAIMS = [
    ("clean accuracy, bare", r"bare\s+clean accuracy ([\d.]+)%", "86.0"),
    ("clean accuracy, LowPass r=8", r"LowPass r=8\s+clean accuracy ([\d.]+)%", "85.0"),
    ("white-box PGD-10 headline", r"whitebox, 8/255: PGD-10: ([\d.]+)%, upper bound", "64.6"),
    ("adaptive PGD-10 headline", r"adaptive, 8/255: PGD-10: ([\d.]+)%, upper bound", "61.8"),
    ("oblivious PGD-10 row", r"lowpass\s+8\.0\s+oblivious\s+pgd\s+\S+\s+\d+\s+\d+\s+([\d.]+)", "72.8"),
]
TOLERANCE = 1.5


def _outputs(notebook) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                raise AssertionError(f"the tutorial failed: {output['ename']}: {output['evalue']}")
            texts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


@pytest.mark.slow
def test_tutorial_runs_and_quotes_its_own_outputs(tmp_path, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # a kernel running this interpreter (the installed "python3" kernelspec runs whatever `python` is on PATH)
    kernel = tmp_path / "jupyter" / "kernels" / "hfc-robust-tests"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "hfc-robust tests",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    notebook = jupytext.read(DOCS / "tutorial.py")
    work = tmp_path / "work"
    work.mkdir()
    started = time.process_time(), time.time()
    nbclient.NotebookClient(
        notebook, kernel_name="hfc-robust-tests", timeout=600, resources={"metadata": {"path": str(work)}}
    ).execute()
    print(f"tutorial: {time.time() - started[1]:.0f} s wall")
    outputs = _outputs(notebook)
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    for what, pattern, quoted in TUTORIAL_CLAIMS:
        assert f"{quoted}%" in text or f"({quoted}%)" in text, f"the tutorial's text no longer quotes {what} {quoted}%"
        found = re.search(pattern, outputs)
        assert found, f"{what}: no output matches {pattern!r}"
        value = float(found.group(1)) * (100 if float(found.group(1)) <= 1 else 1)
        assert abs(value - float(quoted)) <= TOLERANCE, f"{what}: the text says {quoted}%, the output {value:.1f}%"
    # the run's checks as the text describes them: the spot check warns, nothing fails
    assert re.search(r"warn\s+strong-attack-spot-check", outputs) and "warned: True failed: False" in outputs
    assert "the spot check broke none of 20 sampled" in outputs  # the adaptive row's
    estimate = re.search(r"whitebox, 8/255: PGD-10: .*overstated by ~([\d.]+) points", outputs)
    assert "overstated by about 3 points" in text and estimate and abs(float(estimate.group(1)) - 3) <= TOLERANCE
    assert (work / "tiny-net-run" / "run.json").is_file()
    run = json.loads((work / "tiny-net-run" / "run.json").read_text())
    assert run["model"]["name"] == "tiny-net" and run["dataset"]["indices"] == [[0, 499]]


# ---- the docs' Python examples run as written ----


def _python_blocks() -> list[tuple[str, str]]:
    blocks = []
    for page in sorted(DOCS.rglob("*.md")):
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S):
            if "--8<--" not in block:  # the tutorial page includes the notebook, tested above
                blocks.append((str(page.relative_to(DOCS)), block))
    return blocks


@pytest.mark.slow
@pytest.mark.parametrize("page, block", _python_blocks(), ids=lambda value: value if value.endswith(".md") else "")
def test_docs_python_blocks_run_from_the_repository_root(page, block, tmp_path):
    for entry in ROOT.iterdir():
        if not entry.name.startswith("."):
            (tmp_path / entry.name).symlink_to(entry)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run(
        [sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{page}: {result.stderr[-2000:]}"
