"""The built image on a real Docker engine. `make image-test` (scripts/image-test) installs and
starts the engine, builds the image and runs these tests with BACKUPNIMBUS_IMAGE naming it;
they are not collected by a plain `pytest` (pyproject's norecursedirs)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.docker import Docker, required


@pytest.fixture(scope="session")
def docker() -> Iterator[Docker]:
    client = Docker(binary=os.environ.get("DOCKER", "/usr/bin/docker"),
                    image=required("BACKUPNIMBUS_IMAGE"))  # fmt: skip
    inspected = client("image", "inspect", client.image)
    if inspected.returncode != 0:
        pytest.fail(f"the image {client.image} is not on the engine: {inspected.stderr[-500:]}")
    yield client
    client.remove_ours()


@pytest.fixture(scope="session")
def base_image() -> str:
    return required("BACKUPNIMBUS_BASE_IMAGE")
