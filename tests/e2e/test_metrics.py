"""The backup metric line is valid CloudWatch Embedded Metric Format, on success and failure."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pymongo import MongoClient

from backupnimbus.entrypoints.metrics import backup_metric_fields
from tests.support.cli import run_cli
from tests.support.servers import Secantus

UNITS = {"Seconds", "Bytes", "Count", "Milliseconds", "None"}


def assert_valid_emf(record: dict[str, Any]) -> None:
    """The EMF specification's rules for a structured log record."""
    metadata = record["_aws"]
    assert isinstance(metadata["Timestamp"], int)
    assert metadata["Timestamp"] > 1_500_000_000_000  # milliseconds since the epoch
    directives = metadata["CloudWatchMetrics"]
    assert isinstance(directives, list)
    assert directives
    for directive in directives:
        assert isinstance(directive["Namespace"], str)
        assert directive["Namespace"]
        for dimension_set in directive["Dimensions"]:
            assert len(dimension_set) <= 30
            for dimension in dimension_set:
                assert isinstance(record[dimension], str)  # each dimension is a string member
        for metric in directive["Metrics"]:
            assert metric["Unit"] in UNITS
            assert isinstance(record[metric["Name"]], int | float)  # each metric is a number


def test_metric_fields_follow_the_specification() -> None:
    fields = backup_metric_fields(
        name="nightly", succeeded=True, size=1234, duration_s=2.5,
        at=datetime(2025, 4, 7, 10, 15, 30, tzinfo=UTC),
    )  # fmt: skip

    assert_valid_emf(fields)
    assert fields["_aws"]["Timestamp"] == 1744020930000
    assert fields["BackupSuccess"] == 1


def _metric_lines(stderr: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in stderr.splitlines()]
    return [r for r in records if "_aws" in r]


def test_a_backup_logs_one_metric_line(
    backup_env: dict[str, str], secantus: Secantus, database: str
) -> None:
    MongoClient(secantus.uri)[database].things.insert_many({"n": n} for n in range(100))
    env = {**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*", "BACKUP_NAME": "emf"}

    completed = run_cli(["run", "--json"], env)

    assert completed.returncode == 0, completed.stderr
    [metric] = _metric_lines(completed.stderr)
    assert_valid_emf(metric)
    assert metric["BackupName"] == "emf"
    assert metric["BackupSuccess"] == 1
    assert metric["BackupBytes"] == json.loads(completed.stdout)["size"]


def test_a_failed_backup_logs_success_zero(backup_env: dict[str, str]) -> None:
    env = {**backup_env, "MONGODUMP_PATH": "/nonexistent/mongodump", "BACKUP_NAME": "emf"}

    completed = run_cli(["run", "--json"], env)

    assert completed.returncode == 1
    [metric] = _metric_lines(completed.stderr)
    assert_valid_emf(metric)
    assert metric["BackupSuccess"] == 0
