from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.support import fault_matrix
from tests.support.cli import REGION, b64
from tests.support.fault_db import FaultDb
from tests.support.fault_proxy import FaultProxy
from tests.support.servers import (
    Secantus,
    mongo_tools_dir,
    start_moto_process,
    start_secantus,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    fault_matrix.add_option(parser)


def pytest_configure(config: pytest.Config) -> None:
    # A session that records every fault-matrix row checks docs/reliability.md against them.
    config.pluginmanager.register(fault_matrix.FaultMatrixPlugin(fault_matrix.MATRIX))


@pytest.fixture(scope="session")
def mongo_tools() -> Path:
    return mongo_tools_dir()


@pytest.fixture(scope="session")
def secantus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secantus]:
    server = start_secantus(tmp_path_factory.mktemp("secantus") / "data")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def ses_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto for SES in a process of its own; see tests/support/ses.py for why."""
    server = start_moto_process(tmp_path_factory.mktemp("moto-ses") / "moto.log")
    yield server.endpoint
    server.stop()


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=moto_endpoint, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"backups-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def database(secantus: Secantus) -> str:
    """A database name no other test uses, on the shared server."""
    return f"db_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def backup_env(
    secantus: Secantus,
    mongo_tools: Path,
    moto_endpoint: str,
    ses_endpoint: str,
    bucket: str,
    tmp_path: Path,
) -> dict[str, str]:
    """The configuration of a backup from SecantusDB into moto S3, base64 where the README says."""
    return {
        "MONGO_URI": b64(secantus.uri),
        "AWS_S3_BUCKET_NAME": b64(bucket),
        "AWS_ACCESS_KEY_ID": b64("testing"),
        "AWS_SECRET_ACCESS_KEY": b64("testing"),
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_S3": moto_endpoint,
        "AWS_ENDPOINT_URL_SES": ses_endpoint,
        "MONGODUMP_PATH": str(mongo_tools / "mongodump"),
        "LOCAL_BACKUP_DIR": str(tmp_path / "unused-local-store"),
    }


# The fault server and the fault proxy in front of moto, shared by the fault and deadline tests.


@pytest.fixture(scope="module")
def fault_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultDb]:
    db = FaultDb.start(tmp_path_factory.mktemp("secantus-faults") / "data")
    yield db
    db.stop()


@pytest.fixture(scope="module")
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_endpoint).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def faults(proxy: FaultProxy) -> Iterator[FaultProxy]:
    proxy.set_rules([])
    proxy.serialize()
    yield proxy
    proxy.set_rules([])
    proxy.serialize()


@pytest.fixture
def env(backup_env: dict[str, str], fault_db: FaultDb, proxy: FaultProxy) -> dict[str, str]:
    """A backup of the fault server into moto, through the fault proxy."""
    return {
        **backup_env,
        "MONGO_URI": b64(fault_db.uri),
        "AWS_ENDPOINT_URL_S3": proxy.url,
        "BACKUP_NAME": "faults",
    }
