"""Builds the compressed-backup baseline (benchmarks/gogzip/main.go) with the machine's `go`.

The binary is what `mongodump --gzip` runs on its output: Go's compress/gzip at the default
level, one goroutine. It is built once per (source, Go version) into the bench cache, so a
rerun costs nothing and an edited source or another toolchain gets a fresh build.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().with_name("gogzip") / "main.go"


def ensure_gogzip(cache: Path, *, go: str | None = None) -> Path:
    """Path of the built baseline compressor, building it first if needed."""
    go = go or shutil.which("go") or _usual_go()
    if go is None:
        raise RuntimeError("go is not on PATH; install Go 1.21 or newer to build the baseline")
    version = subprocess.run(
        [go, "version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    digest = hashlib.sha256(SOURCE.read_bytes() + version.encode()).hexdigest()[:16]
    target = cache / f"gogzip-{digest}"
    if os.access(target, os.X_OK):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gogzip-", dir=cache) as work:
        # A module of its own, so that no surrounding go.mod or GOFLAGS changes the build.
        shutil.copy(SOURCE, Path(work) / "main.go")
        (Path(work) / "go.mod").write_text("module backupnimbus.invalid/gogzip\n\ngo 1.21\n")
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "", "GOTOOLCHAIN": "local"}
        partial = Path(work) / "gogzip"
        subprocess.run(
            [go, "build", "-trimpath", "-o", str(partial), "."],
            cwd=work, env=env, check=True, capture_output=True,
        )  # fmt: skip
        partial.replace(target)
    return target


def _usual_go() -> str | None:
    candidate = Path("/usr/local/go/bin/go")
    return str(candidate) if os.access(candidate, os.X_OK) else None
