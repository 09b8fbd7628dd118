"""The shared test archives (../shared/testdata), found wherever the checkout is."""

from __future__ import annotations

import os
from pathlib import Path


def _locate() -> Path:
    candidates = [
        os.environ.get("BACKUPNIMBUS_TESTDATA", ""),
        str(Path(__file__).resolve().parents[3] / "shared" / "testdata"),
        "/work/shared/testdata",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "README.md").is_file():
            return Path(candidate)
    # Not a skip: the tests that use it fail, naming where they looked.
    return Path(candidates[1])


TESTDATA = _locate()
