"""The image's entry script, for real, without Docker.

Inside Lambda: aws-lambda-rie (the AWS Lambda Runtime Interface Emulator, built from its Go
module by scripts/build-lambda-rie) runs docker/entrypoint, which starts the runtime client
awslambdaric with the handler, exactly as the image does; events are POSTed to its invocation
endpoint. Outside Lambda: the same script runs the CLI. Both back up SecantusDB into moto S3 with
the real mongodump.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.support.lambda_emulator import ENTRYPOINT, PATH, emulator
from tests.support.lambda_events import SCHEDULED_EVENT
from tests.support.servers import Secantus, built_path

HANDLER = "backupnimbus.entrypoints.lambda_handler.handler"


@pytest.fixture(scope="session")
def lambda_rie() -> Path:
    binary = built_path("LAMBDA_RIE", "build-lambda-rie")
    if not os.access(binary, os.X_OK):
        pytest.fail(
            f"{binary} is not an executable aws-lambda-rie; run `make tools`", pytrace=False
        )
    return binary


@pytest.fixture
def lambda_env(backup_env: dict[str, str], database: str, secantus: Secantus) -> dict[str, str]:
    things = MongoClient[dict[str, Any]](secantus.uri)[database].things
    things.insert_many({"n": n} for n in range(50))
    return {**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*", "BACKUP_NAME": "nightly"}


def stored(s3: Any, bucket: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def assert_complete_backup(s3: Any, bucket: str, result: dict[str, Any]) -> bytes:
    body: bytes = s3.get_object(Bucket=bucket, Key=result["key"])["Body"].read()
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=result["manifest_key"])["Body"].read())
    assert len(body) == result["size"]
    assert manifest["sha256"] == hashlib.sha256(body).hexdigest() == result["sha256"]
    return body


@pytest.mark.parametrize(
    "bootstrap",
    [[str(ENTRYPOINT)], ["python3", "-m", "awslambdaric", HANDLER]],
    ids=["entry-script", "awslambdaric"],
)
def test_a_scheduled_event_backs_up_through_the_lambda_runtime(
    lambda_rie: Path,
    lambda_env: dict[str, str],
    bootstrap: list[str],
    s3: Any,
    bucket: str,
    tmp_path: Path,
) -> None:
    with emulator(lambda_rie, lambda_env, bootstrap, tmp_path) as rie:
        result = rie.invoke(SCHEDULED_EVENT)

    assert result.get("status") == "success", (result, rie.output()[-3000:])
    assert result["key"].startswith("backups/nightly/")
    assert result["key"].endswith(".archive.gz")
    assert_complete_backup(s3, bucket, result)
    assert stored(s3, bucket) == sorted([result["key"], result["manifest_key"]])


def test_a_warm_runtime_takes_a_manual_payload_after_the_schedule(
    lambda_rie: Path, lambda_env: dict[str, str], s3: Any, bucket: str, tmp_path: Path
) -> None:
    manual = {"name": "adhoc", "compress": False, "timestamp": "2025-04-07T10:15:30Z"}

    with emulator(lambda_rie, lambda_env, [str(ENTRYPOINT)], tmp_path) as rie:
        scheduled = rie.invoke(SCHEDULED_EVENT)
        result = rie.invoke(manual)
        log = rie.output()

    assert scheduled.get("status") == "success", (scheduled, log[-3000:])
    assert result["key"] == "backups/adhoc/2025/04/07/adhoc-20250407T101530Z.archive", log
    body = assert_complete_backup(s3, bucket, result)
    assert body[:4] == bytes.fromhex("6de29981")  # an uncompressed mongodump archive
    assert log.count("INIT START") == 1  # the second invocation reused the warm runtime


def test_a_warm_runtime_verifies_then_prunes_the_sets_backups(
    lambda_rie: Path, lambda_env: dict[str, str], s3: Any, bucket: str, tmp_path: Path
) -> None:
    with emulator(lambda_rie, lambda_env, [str(ENTRYPOINT)], tmp_path) as rie:
        made = [
            rie.invoke({"timestamp": stamp})
            for stamp in ("2025-04-06T10:15:30Z", "2025-04-07T10:15:30Z")
        ]
        other = rie.invoke({"name": "weekly", "timestamp": "2025-04-05T10:15:30Z"})
        verified = rie.invoke({"action": "verify"})
        log = rie.output()
    # RETENTION_KEEP_LAST is the function's configuration: a runtime of its own, so that the
    # backups above did not prune as they went.
    with emulator(
        lambda_rie, {**lambda_env, "RETENTION_KEEP_LAST": "1"}, [str(ENTRYPOINT)], tmp_path
    ) as rie:
        pruned = rie.invoke({"action": "prune"})
        log += rie.output()

    older, newest = made
    assert verified.get("status") == "verified", (verified, log[-3000:])
    assert verified["key"] == newest["key"]
    assert verified["sha256"] == verified["manifest_sha256"] == newest["sha256"]
    assert pruned.get("status") == "success", (pruned, log[-3000:])
    assert [gone["key"] for gone in pruned["deleted"]] == [older["key"]]
    assert stored(s3, bucket) == sorted(
        [newest["key"], newest["manifest_key"], other["key"], other["manifest_key"]]
    )


def test_a_failed_backup_is_a_function_error_whose_message_is_the_error_document(
    lambda_rie: Path, lambda_env: dict[str, str], secantus: Secantus, s3: Any, bucket: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    from tests.support.cli import b64

    password = "Pl4nted-Secret-7f3a"
    env = {
        **lambda_env,
        "MONGO_URI": b64(f"mongodb://backup:{password}@127.0.0.1:{secantus.port}/"),
        "MONGODUMP_PATH": "/nonexistent/mongodump",
    }

    with emulator(lambda_rie, env, [str(ENTRYPOINT)], tmp_path) as rie:
        response = rie.invoke(SCHEDULED_EVENT)
        log = rie.output()

    assert response["errorType"] == "InvocationFailedError", response
    document = json.loads(response["errorMessage"])
    assert document["error"]["code"] == "DUMP_ERROR"
    assert "MONGODUMP_PATH" in document["error"]["message"]
    assert set(document["error"]) >= {"code", "message", "timestamp", "details"}
    assert password not in json.dumps(response)
    assert password not in log
    assert stored(s3, bucket) == []
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_malformed_event_is_a_function_error_naming_the_problem(
    lambda_rie: Path, lambda_env: dict[str, str], s3: Any, bucket: str, tmp_path: Path
) -> None:
    with emulator(lambda_rie, lambda_env, [str(ENTRYPOINT)], tmp_path) as rie:
        response = rie.invoke({"nmae": "typo"})

    document = json.loads(response["errorMessage"])
    assert document["error"]["code"] == "CONFIG_ERROR"
    assert "unknown field" in document["error"]["message"]
    assert stored(s3, bucket) == []


# --- outside Lambda: `docker run --env-file .env IMAGE [ARGS]` ------------------------------------


def entry_script(
    args: list[str], env: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": PATH, "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        [str(ENTRYPOINT), *args], env={**base, **env}, cwd=cwd,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_entry_script_runs_one_backup_and_exits_outside_lambda(
    lambda_env: dict[str, str], s3: Any, bucket: str, tmp_path: Path
) -> None:
    done = entry_script([], lambda_env, tmp_path)

    assert done.returncode == 0, done.stderr
    keys = stored(s3, bucket)
    assert len(keys) == 2, keys
    archive, manifest = sorted(keys, key=len)
    assert archive.startswith("backups/nightly/")
    assert archive.endswith(".archive.gz")
    assert manifest == archive + ".manifest.json"
    assert f"Backup complete: {archive}" in done.stdout


def test_the_entry_script_passes_its_arguments_to_the_cli(
    lambda_env: dict[str, str], s3: Any, bucket: str, tmp_path: Path
) -> None:
    args = [
        "run",
        "--json",
        "--name",
        "adhoc",
        "--no-compress",
        "--timestamp",
        "2025-04-07T10:15:30Z",
    ]

    done = entry_script(args, lambda_env, tmp_path)

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["key"] == "backups/adhoc/2025/04/07/adhoc-20250407T101530Z.archive"
    assert_complete_backup(s3, bucket, result)


def test_the_entry_script_reports_a_bad_configuration_with_exit_2_and_no_traceback(
    lambda_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**lambda_env, "MONGO_URI": "not base64 at all!"}

    done = entry_script([], env, tmp_path)

    assert done.returncode == 2
    assert "MONGO_URI" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
