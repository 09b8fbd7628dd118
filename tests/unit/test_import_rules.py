"""The rooms' import rules, read from the source: what a domain or port module may import.

The rule each package states in its `__init__` docstring is enforced here, so that a use case
never starts to depend on boto3 or on an adapter without the suite saying so.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "backupnimbus"

# Third-party libraries that only compute: no I/O, no service, no process.
_PURE_LIBRARIES = {"attrs", "cattrs", "fastcrc", "isal"}
_SHARED = {"backupnimbus.errors", "backupnimbus.stop_signal"}
_PURE_SHARED = {"backupnimbus.conversion", "backupnimbus.redaction"}

ALLOWED = {
    "domain": (
        _PURE_LIBRARIES,
        _SHARED | _PURE_SHARED | {"backupnimbus.ports", "backupnimbus.domain"},
    ),
    "ports": ({"attrs"}, _SHARED | {"backupnimbus.ports"}),
    # The converter every edge shares, the domain's manifest codec included: pure as the domain.
    "conversion": ({"attrs", "cattrs"}, set()),
}


def imported_modules(path: Path, root: Path = PACKAGE) -> list[tuple[int, str]]:
    """Every module a file imports, anywhere in it (functions and TYPE_CHECKING blocks too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(root.parent).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def violations(room: str, root: Path = PACKAGE) -> list[str]:
    libraries, internal = ALLOWED[room]
    problems = []
    paths = (root / room).rglob("*.py") if (root / room).is_dir() else [root / f"{room}.py"]
    for path in sorted(paths):
        for line, module in imported_modules(path, root):
            top = module.split(".")[0]
            if module == "__future__" or top in sys.stdlib_module_names or top in libraries:
                continue
            if any(module == allowed or module.startswith(f"{allowed}.") for allowed in internal):
                continue
            problems.append(f"{path.relative_to(root.parent)}:{line} imports {module}")
    return problems


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_the_room_imports_only_what_its_rule_allows(room: str) -> None:
    assert violations(room) == []


@pytest.mark.parametrize(
    ("room", "line", "culprit"),
    [
        ("domain", "import boto3", "boto3"),
        ("domain", "from backupnimbus.adapters.s3 import S3Store", "backupnimbus.adapters.s3"),
        ("domain", "from ..entrypoints import config", "backupnimbus.entrypoints"),
        ("ports", "from backupnimbus.domain.models import Manifest", "backupnimbus.domain.models"),
        ("ports", "import cattrs", "cattrs"),
    ],
)
def test_a_forbidden_import_is_named_with_its_file_and_line(
    tmp_path: Path, room: str, line: str, culprit: str
) -> None:
    # The checker itself must catch what the rule forbids, inside a function as well.
    module = tmp_path / "backupnimbus" / room / "bad.py"
    module.parent.mkdir(parents=True)
    module.write_text(f"import json\n\n\ndef f() -> None:\n    {line}\n")

    assert violations(room, root=tmp_path / "backupnimbus") == [
        f"backupnimbus/{room}/bad.py:5 imports {culprit}"
    ]


def test_each_room_states_its_rule_in_its_docstring() -> None:
    for room in ("domain", "ports", "adapters", "entrypoints"):
        docstring = ast.get_docstring(ast.parse((PACKAGE / room / "__init__.py").read_text()))
        assert docstring is not None, room
        assert "May import" in docstring, room
        assert "Must not" in docstring, room


@pytest.mark.parametrize("module", ["jobs.py", "lambda_handler.py"])
def test_the_shared_work_and_lambda_import_no_command_line_module(module: str) -> None:
    # The Lambda handler and the work it shares with the CLI render through documents.py; a
    # command module is the command line's own (argparse, terminal rendering).
    imported = [name for _, name in imported_modules(PACKAGE / "entrypoints" / module)]

    assert [name for name in imported if name.startswith("backupnimbus.entrypoints.commands")] == []
