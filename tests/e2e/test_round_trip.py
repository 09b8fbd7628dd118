"""The walking skeleton, end to end: SecantusDB -> mongodump -> S3 (moto) -> mongorestore."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.support.bson_corpus import index_specs, raw_documents, seed_every_type
from tests.support.cli import REPO, b64, run_cli
from tests.support.servers import Secantus

pytestmark = pytest.mark.e2e


def _restore(mongo_tools: Path, archive: Path, uri: str, source_db: str, target_db: str) -> None:
    restored = subprocess.run(
        [str(mongo_tools / "mongorestore"), f"--uri={uri}", f"--archive={archive}", "--gzip",
         f"--nsFrom={source_db}.*", f"--nsTo={target_db}.*"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr


def test_backup_restores_byte_identical_with_indexes(
    secantus: Secantus, database: str, backup_env: dict[str, str], s3: Any, bucket: str,
    mongo_tools: Path, tmp_path: Path,
) -> None:  # fmt: skip
    client: MongoClient[Any] = MongoClient(secantus.uri)
    seed_every_type(client[database])
    env = {**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*", "BACKUP_NAME": "roundtrip"}

    completed = run_cli(["run", "--json"], env)

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["key"].startswith("backups/roundtrip/")
    assert result["key"].endswith(".archive.gz")
    archive = tmp_path / "download.archive.gz"
    s3.download_file(bucket, result["key"], str(archive))
    target = f"{database}_restored"
    _restore(mongo_tools, archive, secantus.uri, database, target)
    for collection in ("every_type", "capped_log", "people"):
        assert raw_documents(client[target], collection) == raw_documents(
            client[database], collection
        ), collection
        assert index_specs(client[target], collection) == index_specs(client[database], collection)
    assert client[target]["capped_log"].options()["capped"] is True
    assert client[target]["every_type"].index_information()["int32_unique"]["unique"] is True


def test_manifest_matches_the_stored_archive(
    secantus: Secantus, database: str, backup_env: dict[str, str], s3: Any, bucket: str
) -> None:
    MongoClient(secantus.uri)[database].things.insert_many({"n": n} for n in range(500))
    env = {**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*"}

    completed = run_cli(["run", "--json"], env)

    assert completed.returncode == 0, completed.stderr
    key = json.loads(completed.stdout)["key"]
    stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key + ".manifest.json")["Body"].read())
    assert manifest["size"] == len(stored)
    assert manifest["sha256"] == hashlib.sha256(stored).hexdigest()
    assert manifest["key"] == key
    assert manifest["namespaces"] == {f"{database}.things": 500}
    assert manifest["source"] == {"hosts": [f"127.0.0.1:{secantus.port}"], "database": None}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_password_never_reaches_mongodump_argv(
    secantus: Secantus, database: str, backup_env: dict[str, str], mongo_tools: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    password = f"pw-{uuid.uuid4().hex}"
    user = f"u{uuid.uuid4().hex[:8]}"
    admin: MongoClient[Any] = MongoClient(secantus.uri)
    admin.admin.command("createUser", user, pwd=password, roles=["root"])
    admin[database].things.insert_one({"n": 1})
    recorded = tmp_path / "argv.txt"
    wrapper = tmp_path / "mongodump"
    # The wrapper records its own argv and what its config is (a pipe), then becomes mongodump.
    wrapper.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{recorded}"\n'
        'for a in "$@"; do case "$a" in --config=*) stat -L -c %F "${a#--config=}"'
        f' >> "{recorded}.mode";; esac; done\n'
        f'exec "{mongo_tools / "mongodump"}" "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    uri = f"mongodb://{user}:{password}@127.0.0.1:{secantus.port}/?authSource=admin"
    env = {**backup_env, "MONGO_URI": b64(uri), "MONGODUMP_PATH": str(wrapper),
           "MONGODUMP_NS_INCLUDE": f"{database}.*"}  # fmt: skip

    completed = run_cli(["run", "--json"], env)

    assert completed.returncode == 0, completed.stderr
    argv = recorded.read_text()
    assert password not in argv
    assert "--archive" in argv
    config_paths = [a.split("=", 1)[1] for a in argv.splitlines() if a.startswith("--config=")]
    assert len(config_paths) == 1
    assert config_paths[0].startswith("/dev/fd/"), "the URI comes through an inherited pipe"
    assert Path(f"{recorded}.mode").read_text().strip() == "fifo", "a pipe, not a file on disk"
    assert password not in completed.stdout + completed.stderr


def test_make_run_demo_leaves_archive_and_manifest(mongo_tools: Path, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
           "LOCAL_BACKUP_DIR": str(backups), "MONGO_TOOLS_BIN": str(mongo_tools),
           "PYTHONPATH": str(REPO)}  # fmt: skip
    from tests.support.servers import venv_script

    python = Path(venv_script("backupnimbus")).with_name("python")
    completed = subprocess.run(
        [str(python), "-m", "backupnimbus.entrypoints.make_run"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stderr
    archives = sorted(backups.rglob("*.archive.gz"))
    manifests = sorted(backups.rglob("*.manifest.json"))
    assert len(archives) == 1
    assert len(manifests) == 1
    manifest = json.loads(manifests[0].read_text())
    assert manifest["sha256"] == hashlib.sha256(archives[0].read_bytes()).hexdigest()
    assert manifest["namespaces"]["shop.users"] == 200
    assert str(archives[0]) in completed.stdout
    assert "every collection's CRC-64 checked" in completed.stdout
