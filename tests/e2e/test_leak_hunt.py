"""The leak hunt: unique secrets planted everywhere a secret can come from, every command run
against real servers, and every byte that leaves the process searched for them."""

from __future__ import annotations

import base64
import json
import stat
import uuid
from pathlib import Path
from typing import Any

import boto3
import pyrage
import pytest
from pymongo import MongoClient

from tests.support.cli import REGION, b64, run_cli
from tests.support.recording_proxy import RecordingProxy
from tests.support.servers import Secantus
from tests.support.ses import SENDER, moto_sent

pytestmark = pytest.mark.e2e


def _recording(tool: Path, argv_log: Path, *, fail: bool = False) -> Path:
    """A stand-in for a mongo tool that records its argv, then runs the real one. With `fail`,
    it instead echoes its configuration file (URI and all) to stderr and fails: the worst a
    tool could do with what it is handed."""
    wrapper = argv_log.with_suffix(f".{tool.name}{'-failing' if fail else ''}")
    body = f'printf "%s\\n" "$0" "$@" >> "{argv_log}"\n'
    if fail:
        body += (f'[ "$1" = --version ] && exec "{tool}" --version\n'
                 'for a in "$@"; do case "$a" in --config=*) cat "${a#--config=}" >&2;; esac; '
                 'done\nexit 1\n')  # fmt: skip
    else:
        body += f'exec "{tool}" "$@"\n'
    wrapper.write_text("#!/bin/sh\n" + body)
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


def test_no_planted_secret_leaks_from_any_command(
    secantus: Secantus, mongo_tools: Path, moto_endpoint: str, ses_endpoint: str, s3: Any,
    bucket: str, backup_env: dict[str, str], tmp_path: Path,
) -> None:  # fmt: skip
    tag = uuid.uuid4().hex
    mongo_password = f"mongo-Pw-{tag}"
    restore_password = f"target-Pw-{tag}"
    aws_secret = f"aws-Secret-{tag}"
    identity = pyrage.x25519.Identity.generate()
    age_secret = str(identity)
    database = f"leak_{tag[:8]}"
    user, target_user = f"u{tag[:6]}", f"t{tag[:6]}"
    admin: MongoClient[Any] = MongoClient(secantus.uri)
    admin.admin.command("createUser", user, pwd=mongo_password, roles=["root"])
    admin.admin.command("createUser", target_user, pwd=restore_password, roles=["root"])
    admin[database].things.insert_many({"n": n, "text": f"row {n}"} for n in range(300))
    source_uri = f"mongodb://{user}:{mongo_password}@127.0.0.1:{secantus.port}/?authSource=admin"
    target_uri = (f"mongodb://{target_user}:{restore_password}@127.0.0.1:{secantus.port}/"
                  "?authSource=admin")  # fmt: skip
    planted = {
        "the MongoDB password": mongo_password,
        "the SSM-stored URI": source_uri,
        "the restore target's password": restore_password,
        "the AWS secret key": aws_secret,
        "the age identity": age_secret,
        "the restore target's URI": target_uri,
    }
    parameter = f"/backupnimbus/{tag}/mongo-uri"
    ssm = boto3.client("ssm", endpoint_url=moto_endpoint, region_name=REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    ssm.put_parameter(Name=parameter, Value=source_uri, Type="SecureString")
    boto3.client("ses", endpoint_url=ses_endpoint, region_name=REGION,
                 aws_access_key_id="testing", aws_secret_access_key="testing",
                 ).verify_email_identity(EmailAddress=SENDER)  # fmt: skip
    ses_proxy = RecordingProxy(ses_endpoint)
    argv_log = tmp_path / "argv.log"
    name = f"leak-{tag[:8]}"
    env = {
        **backup_env,
        "MONGO_URI": f"ssm:{parameter}",
        "AWS_ENDPOINT_URL_SSM": moto_endpoint,
        "AWS_ACCESS_KEY_ID": b64(f"AKIA{tag[:16].upper()}"),
        "AWS_SECRET_ACCESS_KEY": b64(aws_secret),
        "AGE_RECIPIENTS": str(identity.to_public()),
        "NOTIFICATIONS_ENABLED": "true",
        "NOTIFICATION_SENDER_EMAIL": b64(SENDER),
        "NOTIFICATION_RECIPIENTS": b64("oncall@example.com"),
        "MONGODUMP_NS_INCLUDE": f"{database}.*",
        "MONGODUMP_PATH": str(_recording(mongo_tools / "mongodump", argv_log)),
        "MONGORESTORE_PATH": str(_recording(mongo_tools / "mongorestore", argv_log)),
        "BACKUP_NAME": name,
        # Every byte sent to SES is kept: moto keeps only the HTML part of a mail.
        "AWS_ENDPOINT_URL_SES": ses_proxy.url,
    }
    reader = {**env, "AGE_IDENTITY": b64(age_secret + "\n"), "RESTORE_TARGET_URI": b64(target_uri)}
    failing = {**env, "MONGODUMP_PATH": str(_recording(mongo_tools / "mongodump", argv_log,
                                                       fail=True))}  # fmt: skip

    ses_proxy.start()
    try:
        runs = {
            "backup": run_cli(["run", "--json", "--timestamp", "2025-01-01T00:00:00Z"], env),
            "second backup": run_cli(["run", "--json", "--timestamp", "2025-01-02T00:00:00Z"], env),
            "failed backup": run_cli(
                ["run", "--json", "--timestamp", "2025-01-03T00:00:00Z"], failing
            ),
            "list": run_cli(["list", "--json"], reader),
            "verify": run_cli(["verify", "--latest", "--json"], reader),
            "restore": run_cli(["restore", "--latest", "--ns-from", f"{database}.*",
                                "--ns-to", f"{database}_r.*", "--json"], reader),
            "prune": run_cli(["prune", "--keep-last", "1", "--json"], reader),
            "check": run_cli(["check", "--json"], reader),
        }  # fmt: skip
    finally:
        ses_proxy.stop()

    expected_codes = {"failed backup": 1}
    for what, completed in runs.items():
        assert completed.returncode == expected_codes.get(what, 0), (what, completed.stderr)
    assert admin[f"{database}_r"].things.count_documents({}) == 300
    outputs: dict[str, str] = {}
    for what, completed in runs.items():
        outputs[f"{what}: stdout"] = completed.stdout
        outputs[f"{what}: stderr (logs)"] = completed.stderr
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        if item["Key"].endswith(".manifest.json"):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            outputs[f"manifest {item['Key']}"] = body.decode()
    mails = moto_sent(ses_endpoint, f"[BackupNimbus] Backup succeeded: {name}") + moto_sent(
        ses_endpoint, f"[BackupNimbus] Backup failed: {name}"
    )
    assert len(mails) == 3
    outputs["e-mails"] = json.dumps([m.subject + m.body for m in mails])
    sent_mails = [r.form() for r in ses_proxy.sent if r.form().get("Action") == ["SendEmail"]]
    assert len(sent_mails) == 3
    for n, form in enumerate(sent_mails):
        [text] = form["Message.Body.Text.Data"]
        assert text.strip(), "a mail without a plain-text part"
        outputs[f"e-mail {n}: plain-text part"] = text
        outputs[f"e-mail {n}: HTML part"] = "".join(form.get("Message.Body.Html.Data", []))
    outputs["every field sent to SES"] = json.dumps([r.form() for r in ses_proxy.sent])
    argv = argv_log.read_text()
    assert "mongodump" in argv
    assert "mongorestore" in argv
    outputs["argv of every mongodump and mongorestore"] = argv
    assert json.loads(runs["failed backup"].stdout)["error"]["details"]["stderr_tail"]
    # Each secret also in the base64 forms a log or document could carry it in, including the
    # exact values the environment hands over (the identity file ends with a newline).
    forms = {f"{secret_name} (plain)": secret for secret_name, secret in planted.items()} | {
        f"{secret_name} ({form}{', newline-ended' if ended else ''})": encode(
            (secret + ("\n" if ended else "")).encode()
        ).decode()
        for secret_name, secret in planted.items()
        for ended in (False, True)
        for form, encode in (
            ("base64", base64.b64encode),
            ("url-safe base64", base64.urlsafe_b64encode),
        )
    }
    handed_over = (b64(aws_secret), b64(age_secret + "\n"), b64(target_uri))
    assert set(handed_over) <= set(forms.values())
    for where, text in outputs.items():
        for secret_name, secret in forms.items():
            assert secret not in text, f"{secret_name} leaked into {where}"
