"""The Docker engine's client for the image tests (tests/image), and small helpers they share."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path

import attrs
import pytest

LABEL = os.environ.get("BACKUPNIMBUS_CONTAINER_LABEL", "backupnimbus-image-test")


def required(variable: str) -> str:
    value = os.environ.get(variable)
    if not value:
        pytest.fail(f"{variable} is not set: run these tests with `make image-test`", pytrace=False)
    return value


@attrs.frozen
class Docker:
    """The engine's client, and the containers these tests start (all labelled, all removed)."""

    binary: str
    image: str

    def __call__(
        self, *args: str, timeout: float = 300, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([self.binary, *args], capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            pytest.fail(f"docker {' '.join(args[:2])} failed:\n{done.stderr[-2000:]}")
        return done

    def run(
        self,
        args: list[str],
        *,
        env: Mapping[str, str] | None = None,
        env_file: Path | None = None,
        options: tuple[str, ...] = (),
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """`docker run --rm` of the image on the host network, as an unprivileged user with a
        read-only root file system: how Lambda and the template's Fargate task run it."""
        return self("run", *self.options(env, env_file), *options, self.image, *args,
                    timeout=timeout)  # fmt: skip

    def options(self, env: Mapping[str, str] | None, env_file: Path | None) -> list[str]:
        flags = ["--rm", "--label", LABEL, "--network", "host",
                 "--read-only", "--tmpfs", "/tmp", "--user", "65534"]  # fmt: skip
        if env_file is not None:
            flags += ["--env-file", str(env_file)]
        for name, value in (env or {}).items():
            flags += ["--env", f"{name}={value}"]
        return flags

    def remove_ours(self) -> None:
        listed = self("ps", "-aq", "--filter", f"label={LABEL}")
        ids = listed.stdout.split()
        if ids:
            self("rm", "-f", *ids)


def container_name() -> str:
    return f"backupnimbus-test-{uuid.uuid4().hex[:10]}"


def write_env_file(path: Path, env: Mapping[str, str]) -> Path:
    """A `docker run --env-file` file: NAME=VALUE lines, taken literally (no quotes)."""
    assert all("\n" not in value for value in env.values())
    path.write_text("".join(f"{name}={value}\n" for name, value in env.items()))
    return path
