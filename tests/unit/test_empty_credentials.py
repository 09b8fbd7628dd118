"""Empty AWS credential variables mean "not set": the Lambda Runtime Interface Emulator (and
some shells' `export VAR=`) pass AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY as empty strings, and
boto3's own credential chain must then be used, not a configuration error raised. An empty
MONGO_URI or bucket is still a mistake the user must hear about."""

from __future__ import annotations

import logging

import pytest

from backupnimbus.adapters.env_secrets import Base64EnvSecrets
from backupnimbus.entrypoints.config import load_config
from backupnimbus.errors import ConfigInvalidError
from tests.support.cli import b64

GOOD = {"MONGO_URI": b64("mongodb://db.example.com:27017/app")}
EMPTY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": " ", "AWS_SESSION_TOKEN": ""}


@pytest.mark.parametrize("in_lambda", [False, True], ids=["outside-lambda", "inside-lambda"])
def test_empty_credential_variables_are_treated_as_unset_with_a_debug_line(
    in_lambda: bool, caplog: pytest.LogCaptureFixture
) -> None:
    env = {**GOOD, **EMPTY_CREDENTIALS}
    if in_lambda:
        env["AWS_LAMBDA_FUNCTION_NAME"] = "backupnimbus"

    with caplog.at_level(logging.DEBUG, logger="backupnimbus"):
        config = load_config(env, secrets=Base64EnvSecrets(env))

    assert config.aws_access_key_id is None
    assert config.aws_secret_access_key is None
    assert config.aws_session_token is None
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert any(name in line and "unset" in line for line in debug), debug


def test_one_empty_key_beside_a_set_one_is_still_an_incomplete_pair() -> None:
    env = {**GOOD, "AWS_ACCESS_KEY_ID": b64("AKIAEXAMPLE"), "AWS_SECRET_ACCESS_KEY": ""}

    with pytest.raises(ConfigInvalidError) as raised:
        load_config(env, secrets=Base64EnvSecrets(env))

    assert any("together" in problem for problem in raised.value.problems)


@pytest.mark.parametrize("name", ["MONGO_URI", "AWS_S3_BUCKET_NAME"])
def test_an_empty_uri_or_bucket_stays_an_error(name: str) -> None:
    env = {**GOOD, **EMPTY_CREDENTIALS, name: ""}

    with pytest.raises(ConfigInvalidError) as raised:
        load_config(env, secrets=Base64EnvSecrets(env))

    assert any(name in problem and "empty" in problem for problem in raised.value.problems)
