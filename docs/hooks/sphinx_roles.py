"""A griffe extension for the docs build: hfc_robust's docstrings cross-reference with Sphinx roles
(``:class:`~hfc_robust.spec.BenchSpec```, ``:func:`.run_spec```); mkdocstrings does not read those.

Once the package is loaded, every role in every docstring becomes an optional autorefs link: a link
where the docs render the target, its name in code where they do not. A role whose target is no
object in hfc_robust (a renamed module, a removed function) is a warning, which ``strict: true``
turns into a failed build, so a stale reference in a docstring cannot reach the site.

Loaded by mkdocs.yml (``extensions``); it reads griffe's object tree and never imports hfc_robust.
"""

from __future__ import annotations

import ast
import logging
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|exc|obj):`(?P<tilde>~?)(?P<target>[^`<>]+)`")
log = logging.getLogger("mkdocs.plugins.hfc_robust_sphinx_roles")  # strict mode counts its warnings


def _walk(obj: griffe.Object) -> Any:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)


def _lookup(collection: griffe.ModulesCollection, path: str) -> griffe.Object | griffe.Alias | None:
    try:
        return collection[path]
    except Exception:  # KeyError, or an alias that leads outside the loaded packages
        return None


def _scopes(obj: griffe.Object) -> list[str]:
    """Where a bare name is looked up, innermost first: the object, its parents, up to its package."""
    scopes, current = [], obj
    while current is not None:
        scopes.append(current.path)
        current = current.parent
    return scopes


def lazy_exports(objects: list[griffe.Object]) -> dict[str, str]:
    """The names packages export lazily (``_EXPORTS = {"name": "module", ...}``, PEP 562): ``hfc_robust.benchmark``
    is ``hfc_robust.runs.benchmark.benchmark``."""
    exports = {}
    for obj in objects:
        table = obj.members.get("_EXPORTS") if obj.is_module else None
        if table is None or table.is_alias or getattr(table, "value", None) is None:
            continue
        try:
            entries = ast.literal_eval(str(table.value))
        except (ValueError, SyntaxError):
            continue
        for name, module in entries.items():
            exports[f"{obj.path}.{name}"] = f"{obj.path}.{module}.{name}"
    return exports


def resolve(obj: griffe.Object, target: str, collection: griffe.ModulesCollection,
            suffixes: dict[str, list[str]], exports: dict[str, str]) -> str | None:
    """The path of the object a role in ``obj``'s docstring names, as Sphinx would find it, or None."""
    name = target.lstrip(".")
    if name in exports:
        return exports[name]
    candidates = [] if target.startswith(".") else [name]
    candidates += [f"{scope}.{name}" for scope in _scopes(obj)]
    for path in candidates:
        if _lookup(collection, path) is not None:
            return path
    matches = suffixes.get(name.rsplit(".", 1)[-1], [])
    matches = [path for path in matches if path == name or path.endswith("." + name)]
    return matches[0] if len(matches) == 1 else None


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles into optional autorefs once the whole package is loaded."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        objects = list(_walk(pkg))
        exports = lazy_exports(objects)
        suffixes: dict[str, list[str]] = {}
        for obj in objects:
            suffixes.setdefault(obj.name, []).append(obj.path)
        for obj in objects:
            docstring = obj.docstring
            if docstring is None or ":`" not in docstring.value:
                continue

            def link(match: re.Match[str], obj: griffe.Object = obj) -> str:
                target = match["target"].strip()
                path = resolve(obj, target, loader.modules_collection, suffixes, exports)
                external = not target.startswith(".") and "." in target and target.split(".")[0] != pkg.name
                if path is None:
                    if not external:  # another library's object is named, not checked
                        where = f"{obj.relative_filepath}:{docstring.lineno}" if docstring.lineno else obj.path
                        log.warning("%s: %s names no object in %s", where, match[0], pkg.name)
                    path = target.lstrip(".")
                title = target.lstrip(".").rsplit(".", 1)[-1] if match["tilde"] else target.lstrip(".")
                return f'<autoref identifier="{path}" optional>`{title}`</autoref>'

            docstring.value = ROLE.sub(link, docstring.value)
