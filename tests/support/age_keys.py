"""age key pairs made with Debian's `age-keygen`: shared by the encryption tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import attrs
import pytest


@attrs.frozen
class KeyPair:
    identity_file: Path
    """Written by `age-keygen -o`: comments and one AGE-SECRET-KEY-1... line."""
    public_key: str
    """From `age-keygen -y`."""

    @property
    def secret(self) -> str:
        return next(
            line for line in self.identity_file.read_text().splitlines()
            if line.startswith("AGE-SECRET-KEY-1")
        )  # fmt: skip


def age_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"`{name}` is not installed: run `make test` (or `make age`), which installs Debian's "
            "age package",
            pytrace=False,
        )
    return found


def new_keypair(directory: Path, name: str) -> KeyPair:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.txt"
    subprocess.run([age_tool("age-keygen"), "-o", str(path)], check=True, capture_output=True)
    public = subprocess.run(
        [age_tool("age-keygen"), "-y", str(path)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return KeyPair(identity_file=path, public_key=public)
