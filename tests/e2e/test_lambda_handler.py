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
