"""The store is chosen explicitly, and every result says which store it used.

Without AWS_S3_BUCKET_NAME and without STORAGE_BACKEND=local nothing is backed up: a backup
that silently lands on the local disk of a container is a backup nobody will find.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.support.cli import b64, run_cli
from tests.support.servers import Secantus

URI_ONLY = {"MONGO_URI": b64("mongodb://127.0.0.1:1/")}


@pytest.mark.parametrize(
    "args",
    [["run"], ["list"], ["verify", "--latest"], ["restore", "--latest", "--dry-run",
     "--target-uri", "mongodb://127.0.0.1:1/"], ["prune", "--keep-last", "1"], ["check"]],
    ids=lambda args: args[0],
)  # fmt: skip
def test_no_store_configured_is_a_configuration_error(args: list[str], tmp_path: Path) -> None:
    completed = run_cli([*args, "--json"], URI_ONLY, cwd=tmp_path)

    assert completed.returncode == 2, completed.stdout + completed.stderr
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "CONFIG_ERROR"
    problems = " ".join(error["details"]["problems"])
    assert "AWS_S3_BUCKET_NAME" in problems
    assert "STORAGE_BACKEND=local" in problems
    assert not (tmp_path / "backups").exists(), "nothing may fall back to ./backups"


def test_storage_backend_s3_without_a_bucket_says_what_is_missing(tmp_path: Path) -> None:
    completed = run_cli(["list", "--json"], {**URI_ONLY, "STORAGE_BACKEND": "s3"}, cwd=tmp_path)

    assert completed.returncode == 2
    problems = " ".join(json.loads(completed.stdout)["error"]["details"]["problems"])
    assert "STORAGE_BACKEND=s3 needs AWS_S3_BUCKET_NAME" in problems


def test_local_files_need_no_store(tmp_path: Path) -> None:
    """verify --file reads a file: no store is involved, so none is asked for."""
    archive = tmp_path / "not-an-archive"
    archive.write_bytes(b"nothing")

    completed = run_cli(["verify", "--file", str(archive), "--json"], {}, cwd=tmp_path)

    assert json.loads(completed.stdout)["error"]["code"] == "VERIFY_ERROR"


@pytest.fixture
def small_env(backup_env: dict[str, str], database: str, secantus: Secantus) -> dict[str, str]:
    MongoClient(secantus.uri)[database].things.insert_many({"n": n} for n in range(20))
    return {**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*", "BACKUP_NAME": "stored"}


@pytest.mark.e2e
def test_every_result_names_the_s3_store(
    small_env: dict[str, str], bucket: str, secantus: Secantus, mongo_tools: Path
) -> None:
    store = {"backend": "s3", "location": f"s3://{bucket}/nightly/"}
    env = {**small_env, "BACKUP_PREFIX": "nightly/"}
    target = {"RESTORE_TARGET_URI": b64(secantus.uri)}

    documents: dict[str, Any] = {}
    for args in (["run"], ["list"], ["verify", "--latest"], ["restore", "--latest", "--dry-run"],
                 ["prune", "--keep-last", "1", "--dry-run"]):  # fmt: skip
        completed = run_cli([*args, "--json"], {**env, **target})
        assert completed.returncode == 0, completed.stdout + completed.stderr
        documents[args[0]] = json.loads(completed.stdout)

    assert {name: document["store"] for name, document in documents.items()} == {
        name: store for name in documents
    }
    human = run_cli(["list"], env)
    assert f"s3://{bucket}/nightly/" in human.stdout


@pytest.mark.e2e
def test_the_local_store_is_chosen_explicitly_and_named(
    small_env: dict[str, str], tmp_path: Path
) -> None:
    local = tmp_path / "local-store"
    env = {key: value for key, value in small_env.items() if key != "AWS_S3_BUCKET_NAME"}
    env.update(STORAGE_BACKEND="local", LOCAL_BACKUP_DIR=str(local))

    completed = run_cli(["run", "--json"], env, cwd=tmp_path)
    human = run_cli(["run", "--name", "again"], env, cwd=tmp_path)  # a key of its own

    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert document["store"] == {"backend": "local", "location": f"{local}/backups/"}
    assert (local / document["key"]).is_file()
    assert human.returncode == 0, human.stderr
    assert f"store     local {local}/backups/" in human.stdout
