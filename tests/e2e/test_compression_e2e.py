"""Compression end to end: the real mongodump (without --gzip) into moto, compressed by
BackupNimbus, restored by the real mongorestore; the .gz stays readable without BackupNimbus."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.support.age_keys import KeyPair, new_keypair
from tests.support.bson_corpus import raw_documents, seed_every_type
from tests.support.cli import b64, run_cli
from tests.support.servers import Secantus

pytestmark = pytest.mark.e2e

SUFFIX = {"gzip": ".archive.gz", "zstd": ".archive.zst", "none": ".archive"}


@pytest.fixture
def seeded(secantus: Secantus, database: str) -> str:
    seed_every_type(MongoClient[dict[str, Any]](secantus.uri)[database])
    return database


def _recording_mongodump(tmp_path: Path, mongo_tools: Path) -> tuple[str, Path]:
    """A MONGODUMP_PATH that keeps a copy of exactly what the real mongodump wrote."""
    raw = tmp_path / "as-mongodump-wrote.archive"
    wrapper = tmp_path / "mongodump"
    real = mongo_tools / "mongodump"
    wrapper.write_text(
        "#!/bin/bash\nset -o pipefail\n"
        f'case "$1" in --version) exec "{real}" "$@";; esac\n'
        f'"{real}" "$@" | tee "{raw}"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return str(wrapper), raw


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "age"])
@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_every_compression_round_trips_byte_identical(
    secantus: Secantus, seeded: str, backup_env: dict[str, str], s3: Any, bucket: str,
    tmp_path: Path, compression: str, encrypted: bool,
) -> None:  # fmt: skip
    env = {**backup_env, "MONGODUMP_NS_INCLUDE": f"{seeded}.*", "BACKUP_COMPRESSION": compression,
           "RESTORE_TARGET_URI": b64(secantus.uri)}  # fmt: skip
    if encrypted:
        keys: KeyPair = new_keypair(tmp_path / "keys", "alice")
        env |= {"AGE_RECIPIENTS": keys.public_key, "AGE_IDENTITY_FILE": str(keys.identity_file)}

    made = run_cli(["run", "--json"], env)
    assert made.returncode == 0, made.stdout + made.stderr[-3000:]
    document = json.loads(made.stdout)
    assert document["key"].endswith(SUFFIX[compression] + (".age" if encrypted else ""))
    assert document["manifest"]["compression"]["algorithm"] == compression
    verified = run_cli(["verify", "--latest", "--json"], env)
    assert verified.returncode == 0, verified.stdout + verified.stderr[-3000:]
    assert json.loads(verified.stdout)["compression"] == compression
    target = f"{seeded}_r"
    restored = run_cli(
        ["restore", "--latest", "--json", "--ns-from", f"{seeded}.*", "--ns-to", f"{target}.*"],
        env,
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr[-3000:]

    client: MongoClient[Any] = MongoClient(secantus.uri)
    for collection in ("every_type", "capped_log", "people"):
        assert raw_documents(client[target], collection) == raw_documents(
            client[seeded], collection
        ), collection


def test_the_gz_is_standard_gzip_of_what_mongodump_wrote(
    secantus: Secantus, seeded: str, backup_env: dict[str, str], s3: Any, bucket: str,
    tmp_path: Path, mongo_tools: Path,
) -> None:  # fmt: skip
    dump, raw = _recording_mongodump(tmp_path, mongo_tools)
    env = {**backup_env, "MONGODUMP_NS_INCLUDE": f"{seeded}.*", "MONGODUMP_PATH": dump}

    made = run_cli(["run", "--json"], env)

    assert made.returncode == 0, made.stdout + made.stderr[-3000:]
    key = json.loads(made.stdout)["key"]
    stored = tmp_path / "stored.archive.gz"
    s3.download_file(bucket, key, str(stored))
    gunzipped = subprocess.run(["gzip", "-dc", str(stored)], capture_output=True, check=True)
    assert raw.read_bytes()[:4] == bytes.fromhex("6de29981"), "mongodump ran without --gzip"
    assert gunzipped.stdout == raw.read_bytes(), "gunzip gives back exactly what mongodump wrote"
    target = f"{seeded}_gz"
    restore = subprocess.run(
        [str(mongo_tools / "mongorestore"), f"--uri={secantus.uri}", f"--archive={stored}",
         "--gzip", f"--nsFrom={seeded}.*", f"--nsTo={target}.*"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert restore.returncode == 0, restore.stderr
    client: MongoClient[Any] = MongoClient(secantus.uri)
    assert raw_documents(client[target], "people") == raw_documents(client[seeded], "people")


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_verify_catches_a_flipped_byte_in_every_format(
    seeded: str, backup_env: dict[str, str], s3: Any, bucket: str, compression: str
) -> None:
    env = {**backup_env, "MONGODUMP_NS_INCLUDE": f"{seeded}.*", "BACKUP_COMPRESSION": compression}
    made = run_cli(["run", "--json"], env)
    assert made.returncode == 0, made.stdout + made.stderr[-3000:]
    key = json.loads(made.stdout)["key"]
    data = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x01
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))

    verified = run_cli(["verify", key, "--json"], env)

    assert verified.returncode == 1, verified.stdout + verified.stderr[-3000:]
    error = json.loads(verified.stdout)["error"]
    assert error["code"] == "VERIFY_ERROR"
    assert "sha256 mismatch" in error["message"]


def test_a_contradiction_between_compress_and_compression_is_a_config_error(
    backup_env: dict[str, str],
) -> None:
    env = {**backup_env, "BACKUP_COMPRESS": "false", "BACKUP_COMPRESSION": "zstd"}

    completed = run_cli(["run", "--json"], env)

    assert completed.returncode == 2
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "CONFIG_ERROR"
    assert "BACKUP_COMPRESS=false contradicts BACKUP_COMPRESSION=zstd" in error["message"]
