"""The package tree shows the layers: imports point down only, with no cycles (not even inside
functions), and the torch-free layers start without torch."""

from __future__ import annotations

import ast
import resource
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hfc_robust"

# Lower number = lower layer. A module may import its own subpackage and any lower layer.
LAYERS = {
    "errors": 0, "lazy": 0,
    "threat": 1, "cells": 1,
    "ops": 1, "corruptions": 1,
    "defenses": 2, "attacks": 2, "models": 2, "data": 2,
    "results": 3,
    "bench": 4,
    "paper": 5, "analysis": 5,
    "cli": 6,
}
# Inside one layer, packages that may use each other, as (importer, imported).
SIDEWAYS = {("cells", "threat"), ("defenses", "ops"), ("attacks", "ops"), ("data", "ops"), ("models", "ops")}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every hfc_robust module that ``path`` imports, at module level or inside functions."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("hfc_robust"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("hfc_robust"):
                for alias in node.names:  # `from . import x` may name a submodule
                    candidate = f"{target}.{alias.name}"
                    found.add(candidate if _exists(candidate) else target)
    return found


def _exists(module: str) -> bool:
    relative = Path(*module.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative / "__init__.py").is_file()


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_import_points_down():
    wrong = []
    for module, targets in _graph().items():
        source = _layer(module)
        if source is None:
            continue  # hfc_robust/__init__.py re-exports the public API lazily
        assert source in LAYERS, f"{module}: subpackage {source} has no layer in this test"
        for target in targets:
            dest = _layer(target)
            if dest is None or dest == source:
                continue
            if LAYERS[dest] < LAYERS[source] or (source, dest) in SIDEWAYS:
                continue
            wrong.append(f"{module} -> {target}")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles():
    # A package's __init__ re-exporting its own modules is not a cycle; every other edge counts.
    graph = {module: {t for t in targets if t != "hfc_robust" and not t.startswith(module + ".")}
             for module, targets in _graph().items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif state.get(target) is None:
                visit(target, stack + [target])
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout


def test_results_layer_does_not_import_torch():
    out = _python("import sys, hfc_robust.results.compare, hfc_robust.results.render, hfc_robust.results.io;"
                  "print(sorted(m for m in ('torch', 'torchattacks', 'torchvision') if m in sys.modules))")
    assert out.strip() == "[]"


def test_help_list_compare_and_report_do_not_import_torch(tmp_path):
    table = ("dataset,model,defense,radius,rho,attack,eps,eps_255,threat_model,n,correct,accuracy,ci_low,ci_high,cell\n"
             "fmnist,m,none,,,none,0.0,0.0,clean,10,9,0.9,0.6,0.98,fmnist/m/none/clean/none/eps=0.0000000\n")
    (tmp_path / "results.csv").write_text(table)
    code = (
        "import sys\n"
        "from hfc_robust.cli import main\n"
        "for args in (['--help'], ['bench', '--help'], ['list'], ['compare', ARG, ARG], ['report', ARG, '--no-plots']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), (args, exc.code)\n"
        "print('LOADED', sorted(m for m in ('torch', 'torchattacks', 'torchvision') if m in sys.modules))\n"
    ).replace("ARG", repr(str(tmp_path)))
    out = _python(code)
    assert "LOADED []" in out, out


@pytest.mark.skipif(sys.platform != "linux", reason="timing measured on the Linux CI machine")
def test_help_is_fast():
    best = min(_cpu_seconds([sys.executable, "-m", "hfc_robust.cli", "--help"]) for _ in range(3))
    assert best < 1.5, f"hfc-robust --help took {best:.2f}s of CPU"


@pytest.mark.skipif(sys.platform != "linux", reason="timing measured on the Linux CI machine")
def test_list_is_fast():
    best = min(_cpu_seconds([sys.executable, "-m", "hfc_robust.cli", "list"]) for _ in range(3))
    assert best < 1.5, f"hfc-robust list took {best:.2f}s of CPU"


def _cpu_seconds(command: list[str]) -> float:
    """The child's CPU time (user + system), not wall time: a loaded machine delays a process but
    does not make it compute more, so the bound holds on a busy CI machine too (the wall-time bound
    flaked there). What makes start-up slow, importing torch, costs CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, capture_output=True, check=True, timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def test_the_reference_autoattack_is_never_imported_by_the_package():
    """pyautoattack is the tests' and benchmarks' independent reference: hfc_robust must not use it."""
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            assert not any(name.split(".")[0] in ("pyautoattack", "autoattack") for name in names), path


def test_a_pgd_grid_without_the_spot_check_does_not_import_torchattacks(tmp_path):
    """Building an attack imports only its own module: a PGD grid on a packaged model loads no
    torchattacks (0.7 s of CPU per command); the FGSM row and the spot check do."""
    code = (
        "import sys\n"
        "import hfc_robust as hr\n"
        "hr.benchmark('fmnist-cnn', 'fmnist', n=8, attacks=('pgd',), radii=(8,), steps=2, spot_check=0, threads=1)\n"
        "print('PGD', 'torchattacks' in sys.modules)\n"
        "hr.benchmark('fmnist-cnn', 'fmnist', n=8, attacks=('fgsm',), spot_check=0, threads=1)\n"
        "print('FGSM', 'torchattacks' in sys.modules)\n"
    )
    out = _python(code)
    assert "PGD False" in out and "FGSM True" in out, out
