"""The suite's own layout: every test module lives in the folder of its kind, and shares code
only through tests/support and the fixtures of tests/conftest.py, never by importing another
test module (which would run that module's tests twice, or not at all when it moves)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
KINDS = ("unit", "contract", "e2e", "image")


def _test_modules() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def test_every_test_module_is_in_the_folder_of_its_kind() -> None:
    misplaced = [
        str(path.relative_to(TESTS))
        for path in _test_modules()
        if path.relative_to(TESTS).parts[0] not in KINDS
    ]

    assert misplaced == [], f"move these into tests/unit, tests/contract or tests/e2e: {misplaced}"


def test_no_test_module_imports_another() -> None:
    found = []
    for path in _test_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            for name in names:
                if name.startswith("tests.") and not name.startswith("tests.support"):
                    found.append(f"{path.relative_to(TESTS)}:{node.lineno} imports {name}")

    assert found == [], "share it through tests/support or a conftest fixture: " + "; ".join(found)


def test_the_layout_check_sees_the_suite() -> None:
    # The checks above pass vacuously on an empty list; the suite is large.
    kinds = {path.relative_to(TESTS).parts[0] for path in _test_modules()}

    assert {"unit", "contract", "e2e"} <= kinds
