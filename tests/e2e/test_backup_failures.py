"""Failed and interrupted backups, end to end: real mongodump, SecantusDB, moto S3, the CLI.

Whatever goes wrong, the bucket must hold either a complete backup with its manifest or nothing:
no partial object at the final key and no multipart upload left open.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from bson import Binary
from pymongo import MongoClient

from tests.support.cli import run_cli
from tests.support.dump_wrappers import CUT_AT, MiB, cut_mongodump, wait_for_an_uploaded_part
from tests.support.servers import Secantus, venv_script

pytestmark = pytest.mark.e2e

TIMESTAMP = "2025-04-07T10:15:30Z"
KEY = "backups/mongodb/2025/04/07/mongodb-20250407T101530Z.archive.gz"


@pytest.fixture(scope="module")
def big_database(secantus: Secantus) -> str:
    """~12 MB of random bytes, which gzip cannot shrink below CUT_AT."""
    name = f"big_{uuid.uuid4().hex[:10]}"
    db = MongoClient[dict[str, Any]](secantus.uri)[name]
    db.blobs.insert_many({"n": n, "blob": Binary(os.urandom(100_000))} for n in range(120))
    assert db.command("dbStats")["dataSize"] > CUT_AT + MiB
    return name


def _bucket_contents(s3: Any, bucket: str) -> tuple[list[str], list[str]]:
    objects = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    uploads = [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    return objects, uploads


@pytest.mark.parametrize(
    ("ending", "exit_code", "message"),
    [
        ("exit 137", 137, "mongodump failed with exit code 137"),
        ("kill -9 $$", -9, "mongodump was killed by SIGKILL before it finished"),
    ],
    ids=["exits-137", "sigkill"],
)
def test_dump_dying_midstream_leaves_no_object_and_no_open_upload(
    big_database: str, backup_env: dict[str, str], mongo_tools: Path, tmp_path: Path,
    s3: Any, bucket: str, ending: str, exit_code: int, message: str,
) -> None:  # fmt: skip
    env = {**backup_env, "MONGODUMP_NS_INCLUDE": f"{big_database}.*",
           "MONGODUMP_PATH": cut_mongodump(tmp_path, mongo_tools, ending)}  # fmt: skip

    completed = run_cli(["run", "--json", "--timestamp", TIMESTAMP], env)

    assert completed.returncode == 1, completed.stderr
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "DUMP_ERROR"
    assert error["message"] == message
    assert error["details"]["exit_code"] == exit_code
    assert "Traceback" not in completed.stderr
    assert _bucket_contents(s3, bucket) == ([], [])


def test_same_timestamp_twice_never_overwrites_the_first_backup(
    secantus: Secantus, database: str, backup_env: dict[str, str], s3: Any, bucket: str
) -> None:
    client: MongoClient[Any] = MongoClient(secantus.uri)
    client[database].things.insert_many({"n": n} for n in range(100))
    env = {**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*"}
    first = run_cli(["run", "--json", "--timestamp", TIMESTAMP], env)
    assert first.returncode == 0, first.stderr
    archive = s3.get_object(Bucket=bucket, Key=KEY)
    manifest = s3.get_object(Bucket=bucket, Key=KEY + ".manifest.json")
    archive_bytes, manifest_bytes = archive["Body"].read(), manifest["Body"].read()
    client[database].things.insert_many({"n": n} for n in range(100, 200))

    second = run_cli(["run", "--json", "--timestamp", TIMESTAMP], env)

    assert second.returncode == 1, second.stderr
    error = json.loads(second.stdout)["error"]
    assert error["code"] == "ALREADY_EXISTS"
    assert error["details"]["key"] == KEY
    assert s3.get_object(Bucket=bucket, Key=KEY)["Body"].read() == archive_bytes
    assert s3.get_object(Bucket=bucket, Key=KEY + ".manifest.json")["Body"].read() == (
        manifest_bytes
    )
    assert s3.head_object(Bucket=bucket, Key=KEY)["ETag"] == archive["ETag"]
    assert _bucket_contents(s3, bucket) == ([KEY, KEY + ".manifest.json"], [])


@pytest.mark.parametrize(
    ("stop", "code", "message"),
    [(signal.SIGINT, "BACKUP_ERROR", "Interrupted"),
     (signal.SIGTERM, "TIMEOUT", "Stopped by SIGTERM before it finished")],
    ids=["sigint", "sigterm"],
)  # fmt: skip
def test_interrupted_run_aborts_its_upload(
    big_database: str, backup_env: Mapping[str, str], mongo_tools: Path, tmp_path: Path,
    s3: Any, bucket: str, stop: signal.Signals, code: str, message: str,
) -> None:  # fmt: skip
    # The dump stalls after its first part, as a slow server would, while the run is stopped.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root"),
           **backup_env, "MONGODUMP_NS_INCLUDE": f"{big_database}.*",
           "MONGODUMP_PATH": cut_mongodump(tmp_path, mongo_tools, "exec sleep 60")}  # fmt: skip
    process = subprocess.Popen(
        [venv_script("backupnimbus"), "run", "--json", "--timestamp", TIMESTAMP],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_an_uploaded_part(s3, bucket, process)
        process.send_signal(stop)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 1, stderr
    error = json.loads(stdout)["error"]
    assert (error["code"], error["message"]) == (code, message)
    assert _bucket_contents(s3, bucket) == ([], [])
