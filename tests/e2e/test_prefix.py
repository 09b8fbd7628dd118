"""BACKUP_PREFIX and the names under it: keys S3 and a directory can hold, or a clear refusal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from backupnimbus.adapters.env_secrets import Base64EnvSecrets
from backupnimbus.entrypoints.config import load_config
from backupnimbus.errors import ConfigInvalidError
from tests.support.cli import b64, run_cli
from tests.support.servers import Secantus

S3_STORE = {"AWS_S3_BUCKET_NAME": b64("acme-backups")}


def problems(env: dict[str, str]) -> str:
    with pytest.raises(ConfigInvalidError) as caught:
        load_config(env, secrets=Base64EnvSecrets(env), require_mongo=False, require_store=True)
    return " | ".join(caught.value.problems)


@pytest.mark.parametrize(
    ("prefix", "complaint"),
    [
        ("x/../", "BACKUP_PREFIX must not hold an empty, '.' or '..' segment"),
        ("../x/", "'..' segment"),
        ("a//", "'..' segment"),
        ("a/./b", "'..' segment"),
        ("/backups", "BACKUP_PREFIX must not start with '/'"),
        ("ok/\x01/", "BACKUP_PREFIX must not hold control characters"),
        ("bad-\udcff/", "BACKUP_PREFIX must be valid UTF-8"),
        ("p" * 1100, "S3 allows at most 1024"),
    ],
)
def test_a_bad_prefix_is_refused_naming_the_variable(prefix: str, complaint: str) -> None:
    assert complaint in problems({**S3_STORE, "BACKUP_PREFIX": prefix})


def test_the_key_limit_counts_utf8_bytes_and_both_names() -> None:
    # 2 bytes a character: 400 characters of prefix are 800 bytes, and the name appears twice,
    # in the longest key: {prefix}{name}/YYYY/MM/DD/{name}-YYYYMMDDTHHMMSSZ.archive.zst.age
    # .manifest.json is 801 + 100 + 12 + 100 + 17 + 30 bytes.
    said = problems({**S3_STORE, "BACKUP_PREFIX": "é" * 400 + "/", "BACKUP_NAME": "n" * 100})

    assert "1060 bytes" in said
    assert "BACKUP_NAME" in said


@pytest.mark.parametrize("prefix", ["", "backups/", "a/b.c/d-e_f/", "nightly", "p" * 300])
def test_good_prefixes_are_kept_with_one_trailing_slash(prefix: str) -> None:
    env = {**S3_STORE, "BACKUP_PREFIX": prefix}

    config = load_config(env, secrets=Base64EnvSecrets(env), require_mongo=False)

    assert config.backup_prefix == (prefix.rstrip("/") + "/" if prefix else "")


@pytest.fixture
def small_env(backup_env: dict[str, str], database: str, secantus: Secantus) -> dict[str, str]:
    MongoClient(secantus.uri)[database].things.insert_many({"n": n} for n in range(5))
    return {**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*"}


@pytest.mark.e2e
def test_a_300_character_prefix_backs_up_into_s3(
    small_env: dict[str, str], s3: Any, bucket: str
) -> None:
    prefix = "p" * 299 + "/"

    completed = run_cli(["run", "--json"], {**small_env, "BACKUP_PREFIX": prefix})

    assert completed.returncode == 0, completed.stdout + completed.stderr
    key = json.loads(completed.stdout)["key"]
    assert key.startswith(prefix + "mongodb/")
    s3.head_object(Bucket=bucket, Key=key + ".manifest.json")


@pytest.mark.e2e
def test_a_name_given_on_the_command_line_must_fit_under_the_prefix_too(
    small_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**small_env, "BACKUP_PREFIX": "p/" * 420}

    completed = run_cli(["run", "--name", "n" * 128, "--json"], env)

    assert completed.returncode == 2, completed.stdout + completed.stderr
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "CONFIG_ERROR"
    said = " ".join(error["details"]["problems"])
    assert "--name" in said
    assert "S3 allows at most 1024" in said
