"""The docs stay true: docs/equations.md cites code that exists, the tutorial runs."""

from __future__ import annotations

import ast
import importlib
import re
import runpy
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
EQUATIONS = DOCS / "equations.md"
TUTORIAL = DOCS / "tutorial_232.py"

_OBJECT = re.compile(r"^(manualgrad|reference)(\.\w+)+$")


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table row; ``\\|`` is a literal bar inside a cell."""
    inner = line.strip().strip("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _references() -> list[tuple[str, str, list[str]]]:
    """(notes, object path, quoted excerpts) for every table row that cites code."""
    rows = []
    for line in EQUATIONS.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            continue
        cells = _cells(line)
        spans = [re.findall(r"`([^`]+)`", cell) for cell in cells]
        objects = [s for cell in spans for s in cell if _OBJECT.match(s)]
        if not objects:
            continue
        (obj,) = objects  # one function per row
        excerpts = [s for cell in spans[cells.index(f"`{obj}`") + 1 :] for s in cell]
        rows.append((cells[0], obj, excerpts))
    return rows


REFERENCES = _references()


def _resolve(path: str) -> tuple[object, str]:
    """The object at ``path`` and the source of its definition (found by name, so a
    decorated function's own body is read, not its wrapper's)."""
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        break
    else:
        raise AssertionError(f"no module in {path}")
    obj = module
    for name in parts[split:]:
        assert hasattr(obj, name), f"{path}: {obj!r} has no attribute {name!r}"
        obj = getattr(obj, name)
    source = Path(module.__file__).read_text(encoding="utf-8")
    scope = ast.parse(source).body
    node = None
    for name in parts[split:]:
        found = [
            n for n in scope if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name
        ]
        assert found, f"{path}: no definition of {name!r} in {module.__file__}"
        node = found[0]
        scope = node.body
    # Whole lines: a comment at the end of the last line belongs to the definition.
    lines = source.splitlines()[node.lineno - 1 : node.end_lineno]
    return obj, "\n".join(lines)


def test_equations_page_covers_every_equation_and_algorithm():
    notes = " ".join(row[0] for row in REFERENCES)
    for eq in ("3.1", "3.2", "3.3", "3.4", "4.1", "4.2", "4.3", "4.4"):
        assert f"eq. {eq}" in notes, eq
    for number in range(1, 6):
        assert f"Alg. {number}" in notes, number
    for line in (1, 2, 3, 4, 6, 7, 8, 9, 10, 12):
        assert f"Alg. 1, line {line}" in notes, line
    for topic in ("§4.3", "Lemma 14", "Theorem 16", "slides"):
        assert topic in notes, topic
    assert len(REFERENCES) >= 60


@pytest.mark.parametrize(
    ("notes", "path", "excerpts"),
    REFERENCES,
    ids=[f"{notes}-{path.rsplit('.', 1)[-1]}" for notes, path, _ in REFERENCES],
)
def test_cited_code_exists_and_contains_the_marker(notes, path, excerpts):
    _, source = _resolve(path)
    assert excerpts, f"{notes}: no marker quoted for {path}"
    for excerpt in excerpts:
        assert excerpt in source, f"{notes}: {excerpt!r} not found in {path}"


def _expected_tutorial_output() -> str:
    text = (DOCS / "tutorial_232.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- output of docs/tutorial_232.py -->\n```text\n(.*?)```", text, re.S)
    assert match, "docs/tutorial_232.md has no output block"
    return match.group(1)


def test_tutorial_232_runs_passes_its_checks_and_prints_what_the_page_shows(capsys):
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(TUTORIAL), run_name="__main__")
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.count(": ok (") == 3
    assert out == _expected_tutorial_output()


README = DOCS.parent / "README.md"


def test_readme_python_examples_run():
    """The contract example asserts its own result; the checker example raises on a mistake."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 2
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, str(README), "exec"), namespace)
    assert "my_grads" in namespace
