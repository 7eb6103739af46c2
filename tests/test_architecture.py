"""The one-way architecture: the library never depends on what judges or times it.

* ``manualgrad`` (the library) imports nothing from ``reference``,
  ``benchmarks`` or ``tests``, nor rich or matplotlib when it is imported;
  only ``manualgrad/__main__.py``, the command entry that ``import
  manualgrad`` never runs, may hand over to the tools.
* ``reference`` and ``benchmarks`` use only manualgrad's public API: no
  ``manualgrad._private`` module or attribute.
* Nothing outside the tests imports the tests, and ``reference`` does not
  import the benchmarks.
"""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("manualgrad", "reference", "benchmarks")


def _sources(package: str) -> list[pathlib.Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in the file, at any depth, with from-imports'
    names joined to their module (``from a import b`` gives ``a.b``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", None) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def _private_attributes(path: pathlib.Path) -> list[tuple[int, str]]:
    """``manualgrad._x`` attribute accesses (a private name reached through the package)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "manualgrad"
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append((node.lineno, f"manualgrad.{node.attr}"))
    return found


def _top(name: str) -> str:
    return name.split(".")[0]


def _is_private_manualgrad(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == "manualgrad" and any(
        p.startswith("_") and not p.startswith("__") for p in parts[1:]
    )


def _violations(package: str, forbidden_tops: set[str], *, public_only: bool) -> list[str]:
    bad = []
    for path in _sources(package):
        if path == ROOT / "manualgrad" / "__main__.py":
            continue  # the command entry: may hand over to the tools
        rel = path.relative_to(ROOT)
        for line, name in _imports(path):
            if _top(name) in forbidden_tops or (public_only and _is_private_manualgrad(name)):
                bad.append(f"{rel}:{line} imports {name}")
        if public_only:
            bad += [f"{rel}:{line} uses {name}" for line, name in _private_attributes(path)]
    return bad


def test_the_library_imports_no_oracle_benchmark_test_or_terminal_package():
    forbidden = {"reference", "benchmarks", "tests", "rich", "matplotlib"}
    assert _violations("manualgrad", forbidden, public_only=False) == []


def test_reference_uses_only_the_public_api_and_never_the_benchmarks_or_tests():
    assert _violations("reference", {"benchmarks", "tests"}, public_only=True) == []


def test_benchmarks_use_only_the_public_api_and_never_the_tests():
    assert _violations("benchmarks", {"tests"}, public_only=True) == []


def test_importing_manualgrad_loads_none_of_the_tools():
    """In a fresh interpreter, as a user's ``import manualgrad`` runs."""
    code = "import json, sys\nimport manualgrad\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    loaded = {_top(name) for name in json.loads(result.stdout)}
    assert loaded.isdisjoint({"reference", "benchmarks", "tests", "rich", "matplotlib"})
    assert "manualgrad" in loaded


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import reference\n", ["reference"]),
        ("def f():\n    from reference.checker import x\n", ["reference.checker.x"]),
        ("import importlib\nimportlib.import_module('benchmarks.run')\n", ["benchmarks.run"]),
        ("from manualgrad import _validation\n", ["manualgrad._validation"]),
        ("import manualgrad\nmanualgrad._validation.check_inputs\n", ["manualgrad._validation"]),
        ("import manualgrad\nmanualgrad.check_inputs\n", []),
    ],
)
def test_the_scan_sees_every_kind_of_forbidden_import(tmp_path, source, expected):
    """The scan itself can fail: each planted import is reported."""
    path = tmp_path / "module.py"
    path.write_text(source, encoding="utf-8")
    names = [name for _, name in _imports(path)] + [n for _, n in _private_attributes(path)]
    flagged = [
        n for n in names if _top(n) in {"reference", "benchmarks"} or _is_private_manualgrad(n)
    ]
    assert flagged == expected
