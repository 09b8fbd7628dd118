"""The Lambda handler, invoked in-process with real events against SecantusDB and moto."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from pymongo import MongoClient

from backupnimbus.entrypoints.lambda_events import parse_event
from backupnimbus.entrypoints.lambda_handler import InvocationFailedError, make_handler
from backupnimbus.errors import UsageInvalidError
from tests.support.lambda_events import SCHEDULED_EVENT
from tests.support.servers import Secantus


@attrs.frozen
class Context:
    remaining_ms: int = 900_000
    function_name: str = "backupnimbus"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_env(backup_env: dict[str, str], database: str, secantus: Secantus) -> dict[str, str]:
    MongoClient(secantus.uri)[database].things.insert_many({"n": n} for n in range(50))
    return {**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*", "BACKUP_NAME": "nightly"}


def test_scheduled_event_runs_a_backup(lambda_env: dict[str, str], s3: Any, bucket: str) -> None:
    handler = make_handler(lambda_env)

    result = handler(SCHEDULED_EVENT, Context())

    assert result["status"] == "success"
    assert result["key"].startswith("backups/nightly/")
    head = s3.head_object(Bucket=bucket, Key=result["key"])
    assert head["ContentLength"] == result["size"]
    s3.head_object(Bucket=bucket, Key=result["manifest_key"])


def test_manual_payload_overrides_name_compress_and_timestamp(
    lambda_env: dict[str, str], s3: Any, bucket: str
) -> None:
    handler = make_handler(lambda_env)
    event = {"name": "adhoc", "compress": False, "timestamp": "2025-04-07T10:15:30Z"}

    result = handler(event, Context())

    assert result["key"] == "backups/adhoc/2025/04/07/adhoc-20250407T101530Z.archive"
    body = s3.get_object(Bucket=bucket, Key=result["key"])["Body"].read()
    assert body[:4] == bytes.fromhex("6de29981")  # an uncompressed mongodump archive


def test_failure_raises_with_the_json_error_document(lambda_env: dict[str, str]) -> None:
    handler = make_handler({**lambda_env, "MONGODUMP_PATH": "/nonexistent/mongodump"})

    with pytest.raises(InvocationFailedError) as caught:
        handler(SCHEDULED_EVENT, Context())

    document = json.loads(str(caught.value))
    assert document["error"]["code"] == "DUMP_ERROR"
    assert "MONGODUMP_PATH" in document["error"]["message"]


@pytest.mark.parametrize(
    ("event", "complaint"),
    [
        ([1, 2], "JSON object"),
        ({"action": "explode"}, "action must be one of"),
        ({"compress": "yes"}, "compress must be true or false"),
        ({"timestamp": 12}, "timestamp must be an ISO 8601"),
        ({"name": "../../etc"}, "name: expected"),
        ({"nmae": "typo"}, "unknown field"),
        ({"name": "x" * 70_000}, "at most 65536"),
    ],
)
def test_malformed_events_are_usage_errors(event: Any, complaint: str) -> None:
    with pytest.raises(UsageInvalidError) as caught:
        parse_event(event)

    assert complaint in caught.value.message


# verify and prune, after real backups: the same handler, the same moto bucket

STAMPS = ("2025-04-05T10:15:30Z", "2025-04-06T10:15:30Z", "2025-04-07T10:15:30Z")
# An archive without a manifest, stamped after the others: an upload still running, or one that
# died. Newer than every complete backup, but never "the latest backup" to verify or to keep.
UNFINISHED = "backups/nightly/2025/04/08/nightly-20250408T101530Z.archive.gz"


def keys_of(s3: Any, bucket: str) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


@pytest.fixture
def three_nightlies_and_another_set(
    lambda_env: dict[str, str], s3: Any, bucket: str
) -> list[dict[str, Any]]:
    """Three backups of "nightly", oldest first, one of "weekly" between them, and a newer
    unfinished "nightly" archive; returns the nightly results."""
    handler = make_handler(lambda_env)
    made = []
    for stamp in STAMPS:
        made.append(handler({"timestamp": stamp}, Context()))
        if stamp == STAMPS[0]:
            handler({"name": "weekly", "timestamp": stamp}, Context())
    s3.put_object(Bucket=bucket, Key=UNFINISHED, Body=b"\x1f\x8b half an upload")
    return made


@pytest.mark.e2e
def test_the_verify_action_checks_the_latest_complete_backup_of_the_set(
    lambda_env: dict[str, str], three_nightlies_and_another_set: list[dict[str, Any]]
) -> None:
    newest = three_nightlies_and_another_set[-1]
    handler = make_handler(lambda_env)

    latest = handler({"action": "verify"}, Context())
    oldest = handler(
        {"action": "verify", "key": three_nightlies_and_another_set[0]["key"]}, Context()
    )

    assert latest["status"] == "verified"
    assert latest["key"] == newest["key"], "the latest complete one, not the unfinished archive"
    assert latest["sha256"] == latest["manifest_sha256"] == newest["sha256"]
    assert latest["size"] == newest["size"]
    assert latest["archive"]["bytes"] > 0
    assert latest["store"]["backend"] == "s3"
    assert oldest["status"] == "verified"
    assert oldest["sha256"] == three_nightlies_and_another_set[0]["sha256"]


@pytest.mark.e2e
def test_the_verify_action_fails_when_the_latest_backup_was_changed(
    lambda_env: dict[str, str],
    three_nightlies_and_another_set: list[dict[str, Any]],
    s3: Any,
    bucket: str,
) -> None:
    """The success above means something: the same event fails on a damaged archive."""
    newest = three_nightlies_and_another_set[-1]
    body = s3.get_object(Bucket=bucket, Key=newest["key"])["Body"].read()
    s3.delete_object(Bucket=bucket, Key=newest["key"])
    s3.put_object(Bucket=bucket, Key=newest["key"], Body=body[:-1] + bytes([body[-1] ^ 1]))

    with pytest.raises(InvocationFailedError) as caught:
        make_handler(lambda_env)({"action": "verify"}, Context())

    assert json.loads(str(caught.value))["error"]["code"] == "VERIFY_ERROR"


@pytest.mark.e2e
def test_the_prune_action_removes_the_sets_old_backups_and_keeps_the_newest_complete_one(
    lambda_env: dict[str, str],
    three_nightlies_and_another_set: list[dict[str, Any]],
    s3: Any,
    bucket: str,
) -> None:
    first, second, newest = three_nightlies_and_another_set
    before = keys_of(s3, bucket)
    weekly = {key for key in before if key.startswith("backups/weekly/")}
    handler = make_handler({**lambda_env, "RETENTION_KEEP_LAST": "1"})

    pruned = handler({"action": "prune"}, Context())

    gone = {first["key"], first["manifest_key"], second["key"], second["manifest_key"]}
    assert keys_of(s3, bucket) == before - gone
    assert len(weekly) == 2
    assert weekly <= keys_of(s3, bucket), "another set is never pruned"
    assert {newest["key"], newest["manifest_key"], UNFINISHED} <= keys_of(s3, bucket)
    assert pruned["status"] == "success"
    assert pruned["set"] == "nightly"
    assert pruned["dry_run"] is False
    assert sorted(d["key"] for d in pruned["deleted"]) == [first["key"], second["key"]]
    kept = {k["key"]: k for k in pruned["kept"]}
    assert kept[newest["key"]]["complete"] is True
    assert kept[UNFINISHED]["complete"] is False, "too recent to be a dead upload"
    # What is left still verifies, through the same handler.
    assert handler({"action": "verify"}, Context())["key"] == newest["key"]
