"""Hands a connection string to a MongoDB tool without putting it in argv (where `ps` shows it)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def private_config(uri: str) -> Iterator[str]:
    """A 0600 YAML file for the tool's `--config`, holding the URI; deleted on exit."""
    fd, path = tempfile.mkstemp(prefix="backupnimbus-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w") as handle:
            # JSON string syntax is valid YAML and escapes whatever the URI holds.
            handle.write(f"uri: {json.dumps(uri)}\n")
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
