"""The real mongodump archives the tests read (tests/data, described in its README)."""

from __future__ import annotations

from pathlib import Path

TESTDATA = Path(__file__).resolve().parents[1] / "data"
