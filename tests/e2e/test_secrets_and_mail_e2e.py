"""End to end with real mongodump, SecantusDB, moto S3 and moto SES: what the operator receives,
and the secrets that must never appear anywhere in it."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from pymongo import MongoClient

from tests.support.cli import REGION, b64, run_cli
from tests.support.servers import Secantus
from tests.support.ses import SENDER, moto_sent

pytestmark = pytest.mark.e2e
RECIPIENT = "oncall@example.com"


@pytest.fixture
def mail_env(backup_env: dict[str, str], ses_endpoint: str, database: str) -> dict[str, str]:
    ses = boto3.client("ses", endpoint_url=ses_endpoint, region_name=REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    ses.verify_email_identity(EmailAddress=SENDER)
    return {
        **backup_env,
        "NOTIFICATIONS_ENABLED": "true",
        "NOTIFICATION_SENDER_EMAIL": b64(SENDER),
        "NOTIFICATION_RECIPIENTS": b64(RECIPIENT),
        "MONGODUMP_NS_INCLUDE": f"{database}.*",
        "BACKUP_NAME": f"set-{uuid.uuid4().hex[:8]}",
    }


def _recording_wrapper(tmp_path: Path, real: Path, *, then: str) -> tuple[Path, Path]:
    """A mongodump stand-in that records its argv, then runs `then` (e.g. exec the real one)."""
    argv_file = tmp_path / "argv.txt"
    wrapper = tmp_path / "mongodump-wrapper"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> "{argv_file}"\n{then}\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper, argv_file


def test_success_mails_the_store_key_and_sha256(
    mail_env: dict[str, str], secantus: Secantus, database: str, ses_endpoint: str, bucket: str
) -> None:
    MongoClient(secantus.uri)[database].things.insert_many({"n": n} for n in range(100))

    completed = run_cli(["run", "--json"], mail_env)

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["notification"] == {"sent": True, "error": None}
    [mail] = moto_sent(ses_endpoint, f"[BackupNimbus] Backup succeeded: {mail_env['BACKUP_NAME']}")
    assert mail.recipients == (RECIPIENT,)
    assert result["key"] in mail.body
    assert result["sha256"] in mail.body
    assert f"s3 s3://{bucket}/backups/" in mail.body, "the mail names the store and location"


def test_killed_mongodump_leaves_nothing_and_mails_the_failure(
    mail_env: dict[str, str], secantus: Secantus, database: str, ses_endpoint: str,
    mongo_tools: Path, tmp_path: Path, s3: Any, bucket: str,
) -> None:  # fmt: skip
    MongoClient(secantus.uri)[database].blobs.insert_many(
        {"n": n, "pad": "x" * 20_000} for n in range(600)
    )
    # Sends part of a real dump, then dies by SIGKILL mid-stream.
    wrapper, _ = _recording_wrapper(
        tmp_path,
        mongo_tools,
        then=f'"{mongo_tools / "mongodump"}" "$@" | head -c 300000; kill -9 $$',
    )

    completed = run_cli(["run", "--json", "--no-compress"],
                        {**mail_env, "MONGODUMP_PATH": str(wrapper)})  # fmt: skip

    assert completed.returncode == 1
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "DUMP_ERROR"
    assert error["details"]["notification"] == {"sent": True, "error": None}
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    [mail] = moto_sent(ses_endpoint, f"[BackupNimbus] Backup failed: {mail_env['BACKUP_NAME']}")
    assert "DUMP_ERROR" in mail.body


def test_planted_secrets_appear_nowhere(
    mail_env: dict[str, str], secantus: Secantus, database: str, ses_endpoint: str,
    mongo_tools: Path, tmp_path: Path, s3: Any, bucket: str,
) -> None:  # fmt: skip
    password = f"Pw-{uuid.uuid4().hex}"
    access_key = f"AKIA{uuid.uuid4().hex[:16].upper()}"
    secret_key = f"sk-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    planted = (password, access_key, secret_key)
    user = f"u{uuid.uuid4().hex[:8]}"
    client: MongoClient[Any] = MongoClient(secantus.uri)
    client.admin.command("createUser", user, pwd=password, roles=["root"])
    client[database].things.insert_many({"n": n} for n in range(50))
    uri = f"mongodb://{user}:{password}@127.0.0.1:{secantus.port}/?authSource=admin"
    env = {**mail_env, "MONGO_URI": b64(uri), "AWS_ACCESS_KEY_ID": b64(access_key),
           "AWS_SECRET_ACCESS_KEY": b64(secret_key)}  # fmt: skip
    ok_wrapper, ok_argv = _recording_wrapper(
        tmp_path, mongo_tools, then=f'exec "{mongo_tools / "mongodump"}" "$@"'
    )
    # A mongodump that fails while echoing its whole configuration, URI included, to stderr:
    # the worst a tool could do with what we hand it.
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    bad_wrapper, bad_argv = _recording_wrapper(
        leaky, mongo_tools,
        then=f'[ "$1" = --version ] && exec "{mongo_tools / "mongodump"}" --version; '
        'for a in "$@"; do case "$a" in --config=*) cat "${a#--config=}" >&2;; esac; done; '
        f'echo "error connecting to {uri}" >&2; exit 1',
    )  # fmt: skip

    success = run_cli(["run", "--json"], {**env, "MONGODUMP_PATH": str(ok_wrapper)})
    failure = run_cli(["run", "--json", "--timestamp", "2020-01-01T00:00:00Z"],
                      {**env, "MONGODUMP_PATH": str(bad_wrapper)})  # fmt: skip

    assert success.returncode == 0, success.stderr
    assert failure.returncode == 1
    key = json.loads(success.stdout)["key"]
    manifest = s3.get_object(Bucket=bucket, Key=key + ".manifest.json")["Body"].read().decode()
    name = mail_env["BACKUP_NAME"]
    mails = moto_sent(ses_endpoint, f"[BackupNimbus] Backup succeeded: {name}") + moto_sent(
        ses_endpoint, f"[BackupNimbus] Backup failed: {name}"
    )
    assert len(mails) == 2
    assert "stderr_tail" in failure.stdout  # the echoed URI really went through the tail
    outputs = {
        "success stdout": success.stdout, "success stderr": success.stderr,
        "failure stdout (error document)": failure.stdout, "failure stderr": failure.stderr,
        "manifest": manifest, "mongodump argv": ok_argv.read_text() + bad_argv.read_text(),
        "e-mails": json.dumps([mail.subject + mail.body for mail in mails]),
    }  # fmt: skip
    for where, text in outputs.items():
        for secret in planted:
            assert secret not in text, f"a planted secret leaked into the {where}"
