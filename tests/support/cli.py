"""What many tests share besides fixtures: the test AWS account, base64 as the original tool's
variables take it, and running the installed CLI with exactly the environment a test gives."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.support.servers import venv_script

FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
REGION = "us-east-1"
REPO = Path(__file__).resolve().parents[2]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def run_cli(
    args: list[str], env: Mapping[str, str], *, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Runs the installed `backupnimbus` console script with exactly `env` (plus PATH, HOME),
    importing this checkout's package: an editable install may point at another one."""
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
    paths = [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []
    merged = {**base, **env, "PYTHONPATH": os.pathsep.join([*paths, str(REPO)])}
    return subprocess.run(
        [venv_script("backupnimbus"), *args],
        env=merged, cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
