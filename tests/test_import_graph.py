"""The import graph of the packages: no cycle, no upward import.

The graph is read from the source with ``ast`` (every ``import`` and ``from ... import``, including the lazy ones
inside functions), so nothing is imported to build it.  Layers, bottom to top:

* ``derivations`` and ``training`` at the bottom, independent of each other;
* ``vizlab`` above them (reads both);
* ``book/_ext`` on top (reads all three).

Inside ``derivations`` (see ``docs/ARCHITECTURE.md``): the engine (data types, the linear normal form, positivity,
random instances, the proof engine, the operator rules, the LaTeX reader) at the bottom; the exact models
(``derivations.models``) above the engine's numeric helpers; the identity modules (``registry.ORDER``) above both;
the tools that enumerate or read identities (registry, report, the checker, the bug zoo, the CLI) on top.  A module
may import its own layer or a lower one.  Run ``python tests/test_import_graph.py`` to print the graph.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: top-level layers: a package may import only the packages listed for it
ALLOWED = {
    "derivations": {"derivations"},
    "training": {"training"},
    "vizlab": {"vizlab", "derivations", "training"},
    "book._ext": {"book._ext", "derivations", "training", "vizlab"},
}


def _identity_modules() -> list[str]:
    """``registry.ORDER``, read from the source (importing the registry would import every identity)."""
    tree = ast.parse((ROOT / "derivations" / "registry.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "ORDER" for t in node.targets):
            return [f"derivations.{ast.literal_eval(e)}" for e in node.value.elts]
    raise AssertionError("derivations/registry.py defines no ORDER")


IDENTITIES = set(_identity_modules())
#: layers inside derivations, bottom first; a module not named here is an error (name it when you add it)
ENGINE = {"derivations.steps", "derivations.rv", "derivations.numeric", "derivations.witnesses",
          "derivations.positivity", "derivations.expectation", "derivations.instances", "derivations.notation",
          "derivations.engine", "derivations.identity", "derivations.operator_rules", "derivations.latex_reader",
          "derivations.latex"}
TOOLS = {"derivations", "derivations.__main__", "derivations.registry", "derivations.report", "derivations.check",
         "derivations.loss_conventions"}


def derivations_layer(mod: str) -> int:
    if mod in ENGINE:
        return 0
    if mod.startswith("derivations.models"):
        return 1
    if mod in IDENTITIES:
        return 2
    if mod in TOOLS:
        return 3
    raise AssertionError(f"{mod} has no layer in tests/test_import_graph.py: add it to ENGINE, TOOLS or models/")


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the four packages (packages as their ``__init__``)."""
    out = {}
    for top in ("derivations", "training", "vizlab", "book/_ext"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The longest prefix of ``name`` that is one of our modules (``a.b.c`` -> ``a.b`` when ``c`` is a name)."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        cand = ".".join(parts[:k])
        if cand in MODULES:
            return cand
    return None


def _package_of(mod: str) -> str:
    path = MODULES[mod]
    return mod if path.name == "__init__.py" else mod.rpartition(".")[0]


def imports_of(mod: str) -> set[str]:
    """Our modules that ``mod`` imports anywhere in its file (top level or inside a function)."""
    tree = ast.parse(MODULES[mod].read_text(), filename=str(MODULES[mod]))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # a relative import
                pkg = _package_of(mod).split(".")
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            # ``from pkg import mod`` imports the module pkg.mod; ``from pkg import name`` the package itself
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for n in names:
            hit = _resolve(n)
            if hit is not None and hit != mod:
                out.add(hit)
    if "book._ext" in mod:  # the book's extensions import each other by bare name (Sphinx puts _ext on the path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for n in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]):
                    if f"book._ext.{n}" in MODULES:
                        out.add(f"book._ext.{n}")
    return out


GRAPH = {m: imports_of(m) for m in MODULES}


def top_of(mod: str) -> str:
    return "book._ext" if mod.startswith("book._ext") else mod.split(".")[0]


def cycles(graph: dict, within: str | None = None) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted; ``within`` a package."""
    nodes = [m for m in graph if within is None or top_of(m) == within]
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in graph or (within is not None and top_of(w) != within):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in nodes:
        if v not in index:
            visit(v)
    return sorted(out)


def test_the_graph_is_read():
    """The reader finds the imports it must (a broken reader would make every test below pass)."""
    assert "derivations.expectation" in GRAPH["derivations.engine"]
    assert "derivations.instances" in GRAPH["derivations.engine"]  # a lazy import inside a function
    assert "derivations.identity" in GRAPH["derivations.operator_rules"]
    assert "derivations.notation" in GRAPH["vizlab.formulas"] and "training.result_files" in GRAPH["vizlab.data"]
    assert "book._ext.elbo_identity" in GRAPH["book._ext.elbo_book"]  # a bare-name import on Sphinx's path
    assert len([m for m in MODULES if top_of(m) == "training"]) > 10
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    # the upward import this test was written against (a model importing an identity) would be caught
    assert derivations_layer("derivations.models.surgery_oracles") < derivations_layer("derivations.gaussian_kl")
    assert derivations_layer("derivations.engine") < derivations_layer("derivations.gaussian_kl")


@pytest.mark.parametrize("package", ["derivations", "training", "vizlab", "book._ext"])
def test_no_import_cycle(package):
    assert cycles(GRAPH, within=package) == []


def test_no_import_cycle_anywhere():
    """Across all four packages (so also across layers)."""
    assert cycles(GRAPH) == []


def test_packages_import_only_their_layer_or_below():
    upward = sorted((m, w) for m, ws in GRAPH.items() for w in ws if top_of(w) not in ALLOWED[top_of(m)])
    assert upward == [], "upward or sideways imports between packages: " + ", ".join(f"{m} -> {w}" for m, w in upward)


def test_derivations_modules_import_only_their_layer_or_below():
    mods = [m for m in MODULES if top_of(m) == "derivations"]
    upward = sorted((m, w) for m in mods for w in GRAPH[m] if derivations_layer(w) > derivations_layer(m))
    assert upward == [], "upward imports in derivations/: " + ", ".join(f"{m} -> {w}" for m, w in upward)


def test_the_architecture_map_names_every_derivations_module():
    """docs/ARCHITECTURE.md lists every module of derivations (identities by their ORDER name)."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    missing = [m for m in MODULES if top_of(m) == "derivations" and m not in ("derivations", "derivations.models")
               and f"`{m}`" not in text and not (m in IDENTITIES and f"`{m.split('.')[-1]}`" in text)]
    assert missing == [], f"docs/ARCHITECTURE.md does not list: {missing}"


if __name__ == "__main__":
    for m in sorted(GRAPH):
        print(m, "->", ", ".join(sorted(GRAPH[m])) or "-")
