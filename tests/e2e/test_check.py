"""`backupnimbus check`: every configured service reached, nothing written."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.support.cli import REGION, b64, run_cli
from tests.support.servers import free_port
from tests.support.ses import SENDER


def _with_mail(env: dict[str, str], ses_endpoint: str) -> dict[str, str]:
    boto3.client("ses", endpoint_url=ses_endpoint, region_name=REGION,
                 aws_access_key_id="testing", aws_secret_access_key="testing",
                 ).verify_email_identity(EmailAddress=SENDER)  # fmt: skip
    return {**env, "NOTIFICATIONS_ENABLED": "true", "NOTIFICATION_SENDER_EMAIL": b64(SENDER),
            "NOTIFICATION_RECIPIENTS": b64("ops@example.com")}  # fmt: skip


def _checks(stdout: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in json.loads(stdout)["checks"]}


def test_all_checks_pass_and_nothing_is_written(
    backup_env: dict[str, str], ses_endpoint: str, s3: Any, bucket: str
) -> None:
    completed = run_cli(["check", "--json"], _with_mail(backup_env, ses_endpoint))

    assert completed.returncode == 0, completed.stdout + completed.stderr
    checks = _checks(completed.stdout)
    assert set(checks) == {"storage", "notifications", "mongodump", "mongodb"}
    assert all(c["ok"] for c in checks.values())
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_a_missing_bucket_fails_the_storage_check(backup_env: dict[str, str]) -> None:
    env = {**backup_env, "AWS_S3_BUCKET_NAME": b64("no-such-bucket-here")}

    completed = run_cli(["check"], env)

    assert completed.returncode == 1
    assert "FAIL  storage" in completed.stdout
    assert "no-such-bucket-here" in completed.stdout
    assert "ok    mongodb" in completed.stdout  # the other checks still ran


def test_an_unreachable_mongodb_fails_the_mongodb_check(backup_env: dict[str, str]) -> None:
    env = {**backup_env, "MONGO_URI": b64(f"mongodb://127.0.0.1:{free_port()}/")}

    completed = run_cli(["check", "--json", "--timeout", "3"], env)

    assert completed.returncode == 1
    document = json.loads(completed.stdout)
    assert document["failed"] == ["mongodb"]
    assert "could not connect" in _checks(completed.stdout)["mongodb"]["detail"]


def test_an_unverified_sender_fails_the_notifications_check(
    backup_env: dict[str, str], ses_endpoint: str
) -> None:
    env = {**_with_mail(backup_env, ses_endpoint),
           "NOTIFICATION_SENDER_EMAIL": b64("stranger@unverified.example")}  # fmt: skip

    completed = run_cli(["check", "--json"], env)

    assert completed.returncode == 1
    assert json.loads(completed.stdout)["failed"] == ["notifications"]


def test_an_invalid_configuration_is_exit_2_before_any_check(backup_env: dict[str, str]) -> None:
    completed = run_cli(["check"], {**backup_env, "LOG_LEVEL": "CHATTY"})

    assert completed.returncode == 2
    assert "LOG_LEVEL" in completed.stderr
