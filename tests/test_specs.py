"""The equation tables in specs/equations/ name real functions and real tests.

Every row names the reference function(s), the fast twin(s) (or an em dash while
none exists) and the tests that check the equation; rows of fast-only tools (training,
long runs) put the em dash in the reference column instead. This test fails on any name
that does not resolve, and on any public reference name no table mentions.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs" / "equations").glob("*.md"))
HEADER = ["id", "formula", "source", "reference", "fast", "tests"]
DOCUMENTED_MODULES = [
    "lattice",
    "model",
    "forcefield",
    "ed",
    "dynamics",
    "observables",
    "negf",
    "ehrenfest",
    "symmetry",
    "descriptors",
    "nn",
    "testing",
]


def _rows(path: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    lines = path.read_text().splitlines()
    for n, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells == HEADER:
            for body in lines[n + 2 :]:
                if not body.startswith("|"):
                    break
                values = [c.strip() for c in body.strip().strip("|").split("|")]
                assert len(values) == len(HEADER), f"{path.name}: malformed row {body!r}"
                rows.append(dict(zip(HEADER, values, strict=True)))
    return rows


def _names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _test_exists(node_id: str) -> bool:
    file, _, name = node_id.partition("::")
    path = ROOT / file
    if not path.is_file() or not name:
        return False
    tree = ast.parse(path.read_text())
    return any(isinstance(node, ast.FunctionDef) and node.name == name for node in tree.body)


def test_every_spec_file_has_an_equation_table() -> None:
    assert SPECS, "no specs/equations/*.md found"
    for path in SPECS:
        assert _rows(path), f"{path.name} has no table with header {HEADER}"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_spec_tables_name_existing_functions_and_tests(path: Path) -> None:
    ids = set()
    for row in _rows(path):
        assert row["id"] not in ids, f"{path.name}: duplicate id {row['id']}"
        ids.add(row["id"])
        assert row["formula"] and row["source"], f"{path.name}: {row['id']} lacks formula or source"
        refs = _names(row["reference"])
        fast = _names(row["fast"])
        # a fast-only row (training, runs) writes an em dash in the reference column
        assert refs or (row["reference"] == "—" and fast), (
            f"{path.name}: {row['id']} names no reference function"
        )
        for name in refs:
            assert name.startswith("reference."), f"{path.name}: {name} is not in reference"
            _resolve(name)
        if not fast:
            assert row["fast"] == "—", f"{path.name}: {row['id']} fast column must name or be '—'"
        for name in fast:
            assert name.startswith("fast."), f"{path.name}: {name} is not in fast"
            _resolve(name)
        tests = _names(row["tests"])
        assert tests, f"{path.name}: {row['id']} names no test"
        for node_id in tests:
            assert _test_exists(node_id), f"{path.name}: {row['id']} names missing test {node_id}"


def test_every_public_reference_name_appears_in_a_spec_table() -> None:
    named = {name for path in SPECS for row in _rows(path) for name in _names(row["reference"])}
    missing = []
    for module_name in DOCUMENTED_MODULES:
        module = importlib.import_module(f"reference.{module_name}")
        for public in getattr(module, "__all__", []):
            if f"reference.{module_name}.{public}" not in named:
                missing.append(f"reference.{module_name}.{public}")
    assert not missing, f"public names without a spec row: {missing}"


def test_the_checker_rejects_dangling_names() -> None:
    with pytest.raises(AttributeError):
        _resolve("reference.ed.no_such_function")
    assert not _test_exists("tests/test_ed.py::test_that_does_not_exist")
