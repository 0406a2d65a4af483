"""The house is layered: no package imports one on its own floor or above.

Floors (a package may import only packages on lower floors)::

    3  courtroom_agent     the app: agent, CLI, demo
    2  transcription, hub
    1  av, devices
    0  courtroom_core      the shared kernel: wire, errors, backoff, hearing table

Every import is read from the source with :mod:`ast` — module level, inside
functions, and the string given to ``importlib.import_module`` — so a lazy
import cannot hide an arrow that runs back up.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FLOORS = {
    "courtroom_core": 0,
    "av": 1,
    "devices": 1,
    "transcription": 2,
    "hub": 2,
    "courtroom_agent": 3,
}


def imported_packages(path: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of every project package ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        for name in names:
            top = name.split(".")[0]
            if top in FLOORS:
                yield node.lineno, top


def upward_imports() -> list[str]:
    found = []
    for package, floor in FLOORS.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, imported in imported_packages(path):
                if imported != package and FLOORS[imported] >= floor:
                    where = path.relative_to(ROOT)
                    found.append(
                        f"{where}:{line}: {package} (floor {floor}) imports "
                        f"{imported} (floor {FLOORS[imported]})"
                    )
    return found


def test_no_package_imports_its_own_floor_or_above() -> None:
    assert upward_imports() == []


def test_the_kernel_imports_nothing_of_the_project() -> None:
    for path in (ROOT / "courtroom_core").rglob("*.py"):
        assert [top for _, top in imported_packages(path) if top != "courtroom_core"] == [], path


def test_every_package_is_on_a_floor() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages == set(FLOORS)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from hub import wire\n", ["hub"]),
        ("def f():\n    import courtroom_agent.runner\n", ["courtroom_agent"]),
        (
            "import importlib\nimportlib.import_module('courtroom_agent.record_cli')\n",
            ["courtroom_agent"],
        ),
        ("from . import x\nimport json\n", []),
    ],
)
def test_the_reader_sees_every_kind_of_import(
    tmp_path: Path, source: str, expected: list[str]
) -> None:
    path = tmp_path / "m.py"
    path.write_text(source)
    assert [top for _, top in imported_packages(path)] == expected
