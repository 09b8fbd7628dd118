"""Installing plugin distributions for real: built from source by pip, with the entry points a
user's install would have, into a directory a subprocess puts on PYTHONPATH."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.servers import REPO

DISTRIBUTIONS = REPO / "tests" / "plugins"
"""Plugin distributions kept in the repository, each with its own pyproject.toml."""


def install_distribution(source: Path, target: Path) -> Path:
    """Builds `source` and installs it into `target`, offline: setuptools is already in the venv,
    so there is no build isolation to download, and the core is not reinstalled (no deps)."""
    # Built from a copy: pip writes build/ and *.egg-info into the tree it builds.
    build = target.parent / f"{source.name}-build"
    shutil.copytree(source, build, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(build)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    assert list(target.glob("*.dist-info/entry_points.txt")), "no entry points installed"
    return target


def install_module(
    tmp_path: Path, name: str, module_source: str, entry_point: str | None = None
) -> Path:
    """Writes a one-module distribution named `name` and installs it into a directory of its own."""
    source = tmp_path / f"{name}-src"
    (source / name).mkdir(parents=True)
    (source / name / "__init__.py").write_text(textwrap.dedent(module_source))
    (source / "pyproject.toml").write_text(
        textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name}"
        version = "1.0"

        [project.entry-points."backupnimbus.plugins"]
        {name} = "{entry_point or name + ":register"}"

        [tool.setuptools]
        packages = ["{name}"]
        """)
    )
    target = install_distribution(source, tmp_path / f"{name}-site")
    assert list(target.glob(f"{name}-1.0.dist-info/entry_points.txt"))
    return target
