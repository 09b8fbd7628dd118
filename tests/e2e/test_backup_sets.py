"""Lifecycle commands work on one backup set, BACKUP_NAME unless --name says otherwise; every set
only with --all-sets. A prune for one set must never delete another's backups."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pymongo import MongoClient

from backupnimbus.entrypoints.lambda_handler import make_handler
from tests.support.cli import run_cli
from tests.support.servers import Secantus

STAMPS = {"a": ["2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z"],
          "b": ["2025-01-03T00:00:00Z", "2025-01-04T00:00:00Z"]}  # fmt: skip


@pytest.fixture
def two_sets(
    backup_env: dict[str, str], database: str, secantus: Secantus, s3: Any, bucket: str
) -> dict[str, str]:
    """Two backups of set a, then two newer ones of set b; returns the env with BACKUP_NAME=a."""
    MongoClient(secantus.uri)[database].things.insert_many({"n": n} for n in range(5))
    env = {**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*",
           "RESTORE_TARGET_URI": backup_env["MONGO_URI"]}  # fmt: skip
    for name, stamps in STAMPS.items():
        for stamp in stamps:
            completed = run_cli(["run", "--name", name, "--timestamp", stamp, "--json"], env)
            assert completed.returncode == 0, completed.stdout + completed.stderr
    return {**env, "BACKUP_NAME": "a"}


def archives(s3: Any, bucket: str) -> dict[str, int]:
    """Set name -> how many archives it has in the bucket."""
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    keys = [item["Key"] for item in listed if not item["Key"].endswith(".manifest.json")]
    counts: dict[str, int] = {}
    for key in keys:
        name = key.split("/")[1]
        counts[name] = counts.get(name, 0) + 1
    return counts


def cli(args: list[str], env: dict[str, str], code: int = 0) -> dict[str, Any]:
    completed = run_cli([*args, "--json"], env)
    assert completed.returncode == code, completed.stdout + completed.stderr
    document: dict[str, Any] = json.loads(completed.stdout)
    return document


@pytest.mark.e2e
def test_prune_touches_only_backup_name_unless_all_sets(
    two_sets: dict[str, str], s3: Any, bucket: str
) -> None:
    pruned = cli(["prune", "--keep-last", "1"], two_sets)

    assert archives(s3, bucket) == {"a": 1, "b": 2}
    assert pruned["set"] == "a"
    assert all("/a/" in gone["key"] for gone in pruned["deleted"])

    everything = cli(["prune", "--keep-last", "1", "--all-sets"], two_sets)

    assert archives(s3, bucket) == {"a": 1, "b": 1}
    assert everything["set"] is None


@pytest.mark.e2e
def test_list_verify_and_restore_pick_from_backup_name_or_every_set(
    two_sets: dict[str, str],
) -> None:
    listed = cli(["list"], two_sets)
    every = cli(["list", "--all-sets"], two_sets)
    other = cli(["list", "--name", "b"], two_sets)
    verified = cli(["verify", "--latest"], two_sets)
    newest = cli(["verify", "--latest", "--all-sets"], two_sets)
    restored = cli(["restore", "--latest", "--dry-run"], two_sets)
    any_set = cli(["restore", "--latest", "--dry-run", "--all-sets"], two_sets)

    assert {b["name"] for b in listed["backups"]} == {"a"}
    assert listed["set"] == "a"
    assert [b["name"] for b in every["backups"]] == ["b", "b", "a", "a"]
    assert every["set"] is None
    assert {b["name"] for b in other["backups"]} == {"b"}
    assert "/a/2025/01/02/" in verified["key"]
    assert "/b/2025/01/04/" in newest["key"]
    assert "/a/2025/01/02/" in restored["key"]
    assert "/b/2025/01/04/" in any_set["key"]


@pytest.mark.parametrize(
    "command",
    [["list"], ["verify", "--latest"], ["restore", "--latest"], ["prune", "--keep-last", "1"]],
)
def test_name_and_all_sets_together_is_a_usage_error(command: list[str]) -> None:
    completed = run_cli([*command, "--name", "a", "--all-sets", "--json"], {})

    assert completed.returncode == 2
    problems = json.loads(completed.stdout)["error"]["details"]["problems"]
    assert "argument --all-sets: not allowed with argument --name" in problems


@pytest.mark.e2e
def test_the_lambda_prune_keeps_to_the_events_name_else_backup_name(
    two_sets: dict[str, str], s3: Any, bucket: str
) -> None:
    env = {**two_sets, "BACKUP_NAME": "b", "RETENTION_KEEP_LAST": "1"}
    handler = make_handler(env)

    named = handler({"action": "prune", "name": "a"}, None)

    assert archives(s3, bucket) == {"a": 1, "b": 2}
    assert named["set"] == "a"

    handler({"action": "prune"}, None)

    assert archives(s3, bucket) == {"a": 1, "b": 1}
