"""Configuration: every problem at once, each naming its variable, exit 2, no secret echoed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backupnimbus.adapters.env_secrets import Base64EnvSecrets
from backupnimbus.entrypoints.config import load_config
from backupnimbus.errors import ConfigInvalidError
from tests.support.cli import b64, run_cli
from tests.support.config_samples import GOOD, PLANTED


def load(env: dict[str, str]):  # type: ignore[no-untyped-def]
    return load_config(env, secrets=Base64EnvSecrets(env))


BAD_ENVIRONMENTS = [
    ({}, "MONGO_URI", "required"),
    ({"MONGO_URI": "not base64!!"}, "MONGO_URI", "base64"),
    ({"MONGO_URI": ""}, "MONGO_URI", "empty"),
    ({"MONGO_URI": b64(f"postgres://u:{PLANTED}@h/db")}, "MONGO_URI", "mongodb://"),
    ({**GOOD, "AWS_S3_BUCKET_NAME": b64("Bad_Bucket")}, "AWS_S3_BUCKET_NAME", "bucket name"),
    ({**GOOD, "AWS_S3_BUCKET_NAME": "%%%"}, "AWS_S3_BUCKET_NAME", "base64"),
    ({**GOOD, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL", "DEBUG, INFO, WARN, ERROR"),
    ({**GOOD, "APP_ENV": "staging"}, "APP_ENV", "development"),
    ({**GOOD, "NOTIFICATIONS_ENABLED": "maybe"}, "NOTIFICATIONS_ENABLED", "true or false"),
    ({**GOOD, "NOTIFICATIONS_ENABLED": "true", "NOTIFICATION_SENDER_EMAIL": b64("a@b.io")},
     "NOTIFICATION_RECIPIENTS", "required"),
    ({**GOOD, "NOTIFICATIONS_ENABLED": "true", "NOTIFICATION_RECIPIENTS": b64("a@b.io")},
     "NOTIFICATION_SENDER_EMAIL", "required"),
    ({**GOOD, "NOTIFICATION_SENDER_EMAIL": b64("not-an-address")},
     "NOTIFICATION_SENDER_EMAIL", "e-mail"),
    ({**GOOD, "NOTIFICATION_RECIPIENTS": b64("ok@x.io, nope")}, "NOTIFICATION_RECIPIENTS",
     "invalid e-mail"),
    ({**GOOD, "BACKUP_NAME": "../etc"}, "BACKUP_NAME", "letters"),
    ({**GOOD, "BACKUP_COMPRESS": "gzip"}, "BACKUP_COMPRESS", "true or false"),
    ({**GOOD, "AWS_ACCESS_KEY_ID": b64("AKIAEXAMPLE")}, "AWS_SECRET_ACCESS_KEY", "together"),
    ({**GOOD, "AWS_SECRET_ACCESS_KEY": PLANTED}, "AWS_SECRET_ACCESS_KEY", "base64"),
    ({**GOOD, "MONGODUMP_NS_INCLUDE": "a.*,b.*"}, "MONGODUMP_NS_INCLUDE", "one pattern"),
    ({**GOOD, "MONGODUMP_OPLOG": "sometimes"}, "MONGODUMP_OPLOG", "auto, true, false"),
    ({**GOOD, "MONGODUMP_OPLOG": "true", "MONGODUMP_NS_INCLUDE": "shop.*"}, "MONGODUMP_OPLOG",
     "refuses --oplog with --db"),
]  # fmt: skip


@pytest.mark.parametrize(("env", "variable", "expected"), BAD_ENVIRONMENTS)
def test_bad_environment_exits_2_naming_the_variable(
    env: dict[str, str], variable: str, expected: str, tmp_path: Path
) -> None:
    store = {"STORAGE_BACKEND": "local", "LOCAL_BACKUP_DIR": str(tmp_path)}
    completed = run_cli(["run"], {**store, **env})

    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    document = json.loads(completed.stderr.strip().splitlines()[-1])
    assert document["error"]["code"] == "CONFIG_ERROR"
    problems = " | ".join(document["error"]["details"]["problems"])
    assert variable in problems
    assert expected in problems
    assert PLANTED not in completed.stdout + completed.stderr


def test_every_problem_is_reported_at_once() -> None:
    env = {"MONGO_URI": "%%", "LOG_LEVEL": "LOUD", "AWS_S3_BUCKET_NAME": b64("UPPER")}

    with pytest.raises(ConfigInvalidError) as caught:
        load(env)

    text = " ".join(caught.value.problems)
    assert "MONGO_URI" in text
    assert "LOG_LEVEL" in text
    assert "AWS_S3_BUCKET_NAME" in text


def test_base64_values_are_decoded() -> None:
    config = load({**GOOD, "AWS_S3_BUCKET_NAME": b64("my-backups"), "BACKUP_PREFIX": "nightly",
                   "NOTIFICATIONS_ENABLED": "true", "NOTIFICATION_SENDER_EMAIL": b64("a@b.io"),
                   "NOTIFICATION_RECIPIENTS": b64("x@y.io, z@y.io")})  # fmt: skip

    assert config.mongo_uri == "mongodb://u:pw@db.example.com:27017/app"
    assert config.bucket == "my-backups"
    assert config.backup_prefix == "nightly/"
    assert config.notifications.recipients == ("x@y.io", "z@y.io")
    assert config.source_info().hosts == ("db.example.com:27017",)
    assert config.source_info().database == "app"


def test_inside_lambda_the_reserved_aws_variables_are_plain() -> None:
    env = {**GOOD, "AWS_LAMBDA_FUNCTION_NAME": "backupnimbus", "AWS_ACCESS_KEY_ID": "ASIAPLAIN",
           "AWS_SECRET_ACCESS_KEY": "plain/secret+value", "AWS_SESSION_TOKEN": "token",
           "AWS_REGION": "eu-west-1"}  # fmt: skip

    config = load(env)

    assert config.aws_access_key_id == "ASIAPLAIN"
    assert config.aws_secret_access_key == "plain/secret+value"
    assert config.aws_session_token == "token"
    assert config.in_lambda


def test_secrets_are_kept_out_of_repr() -> None:
    config = load(
        {**GOOD, "AWS_ACCESS_KEY_ID": b64("AKIA1"), "AWS_SECRET_ACCESS_KEY": b64(PLANTED)}
    )

    assert PLANTED not in repr(config)
    assert "pw@" not in repr(config)
    assert PLANTED in config.secret_values()


def test_the_connect_budget_defaults_to_30_seconds_and_takes_fractions() -> None:
    assert load(GOOD).mongo_connect_timeout_s == 30.0
    assert load({**GOOD, "MONGO_CONNECT_TIMEOUT_S": "2.5"}).mongo_connect_timeout_s == 2.5


@pytest.mark.parametrize("value", ["0", "-5", "soon", "nan", "inf"])
def test_a_connect_budget_that_is_not_a_positive_number_is_a_problem(value: str) -> None:
    with pytest.raises(ConfigInvalidError) as raised:
        load({**GOOD, "MONGO_CONNECT_TIMEOUT_S": value})

    assert raised.value.problems == ["MONGO_CONNECT_TIMEOUT_S must be a number of seconds above 0"]


def test_every_conversion_problem_is_one_config_error_naming_each_variable(
    tmp_path: Path,
) -> None:
    env = {**GOOD, "STORAGE_BACKEND": "local", "LOCAL_BACKUP_DIR": str(tmp_path),
           "RETENTION_KEEP_DAILY": "abc", "MONGODUMP_OPLOG": "maybe",
           "NOTIFICATIONS_ENABLED": PLANTED, "MONGO_CONNECT_TIMEOUT_S": "soon",
           "NOTIFICATION_SENDER_EMAIL": f"{PLANTED}!"}  # fmt: skip

    completed = run_cli(["run"], env)

    assert completed.returncode == 2, completed.stderr
    document = json.loads(completed.stderr.strip().splitlines()[-1])
    assert document["error"]["code"] == "CONFIG_ERROR"
    assert document["error"]["details"]["problems"] == [
        "NOTIFICATIONS_ENABLED must be true or false",
        "NOTIFICATION_SENDER_EMAIL is not valid base64-encoded UTF-8 text; "
        "encode it with: printf %s 'value' | base64 -w0",
        "MONGO_CONNECT_TIMEOUT_S must be a number of seconds above 0",
        "MONGODUMP_OPLOG must be one of auto, true, false",
        "RETENTION_KEEP_DAILY must be a whole number of 0 or more",
    ]
    # The variables' names, never the attributes they become.
    assert "retention" not in document["error"]["message"]
    assert "mongo_connect_timeout_s" not in document["error"]["message"]
    assert PLANTED not in completed.stdout + completed.stderr
