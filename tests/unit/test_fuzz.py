"""Fuzzing the two parsers of untrusted input: the configuration loader and the Lambda event
parser. Whatever they are given, only a typed BackupNimbusError may escape, and a configuration
error never repeats a secret it was given.

The examples are derandomised, so CI sees the same ones every run; run with
`--hypothesis-seed=random` (and a larger FUZZ_EXAMPLES) to explore further.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any

import attrs
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from backupnimbus.adapters.env_secrets import Base64EnvSecrets
from backupnimbus.domain.retention import RULES
from backupnimbus.entrypoints.config import Config, Environment, load_config
from backupnimbus.entrypoints.lambda_events import ACTIONS, Invocation, parse_event
from backupnimbus.errors import BackupNimbusError, ConfigInvalidError

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

CONFIG_SOURCE = Path(__file__).resolve().parents[2] / "backupnimbus" / "entrypoints" / "config.py"
# Every variable the loader reads, found in its schema and its source so that new ones are
# fuzzed too (the schema's are attribute names, the others quoted strings).
VARIABLES = sorted(
    {field.name for field in attrs.fields(Environment)}
    | {name for name in re.findall(r'"([A-Z][A-Z0-9_]{3,})"', CONFIG_SOURCE.read_text())
       if "_" in name}
    | {f"RETENTION_KEEP_{rule.upper()}" for rule in RULES}
    | {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SES"}
)  # fmt: skip
SECRET_VARIABLES = ("MONGO_URI", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                    "RESTORE_TARGET_URI", "DRILL_TARGET_URI", "AGE_IDENTITY")  # fmt: skip


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _decoded(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode().strip()
    except ValueError:
        return ""


PLAUSIBLE = st.sampled_from(
    ["", " ", "true", "false", "0", "-1", "1e9", "mongodb://u:p@h:1/db", "mongodb+srv://c.x/",
     "a@b.io", "a@b.io,c@d.io", "db.*", "db.coll", "db.pre*", "s3", "local", "aws:kms", "AES256",
     "age1" + "q" * 58, "AGE-SECRET-KEY-1" + "Q" * 58, "/dev/null", "/", "\x00", "\udcff"]
)  # fmt: skip
VALUES = st.one_of(
    st.text(max_size=80),
    PLAUSIBLE,
    PLAUSIBLE.map(lambda text: _b64(text.encode("utf-8", "surrogatepass"))),
    st.text(max_size=60).map(lambda text: _b64(text.encode("utf-8", "surrogatepass"))),
    st.binary(max_size=40).map(_b64),
)
ENVIRONMENTS = st.dictionaries(
    st.one_of(st.sampled_from(VARIABLES), st.text(max_size=12)), VALUES, max_size=12
)


@FUZZ
@given(ENVIRONMENTS)
@example({"AGE_IDENTITY_FILE": "key\x00.txt", "MONGO_URI": _b64(b"mongodb://h/")})
@example({"MONGO_URI": "bW9uZ29kYjovL2g\udcff"})
@example({"AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_SECRET_ACCESS_KEY": "", "MONGO_URI": ""})
def test_load_config_raises_only_typed_errors(environ: dict[str, str]) -> None:
    error: BackupNimbusError | None = None
    try:
        config = load_config(environ, secrets=Base64EnvSecrets(environ))
    except BackupNimbusError as raised:
        error = raised
    if error is not None:
        assert isinstance(error, ConfigInvalidError)
        assert error.problems, "an error names at least one problem"
        for problem in error.problems:
            assert any(name in problem for name in VARIABLES), f"names no variable: {problem}"
        text = error.message + repr(error.details)
        plain = " ".join(v for k, v in environ.items() if k not in SECRET_VARIABLES)
        for name in SECRET_VARIABLES:
            value = environ.get(name, "").strip()
            for secret in (value, _decoded(value)):
                if len(secret) >= 8 and secret not in plain:
                    assert secret not in text, f"{name}'s value is repeated in the error"
        return
    assert isinstance(config, Config)
    # What every entrypoint does next with a configuration must not fail either.
    config.secret_values()
    config.source_info()
    repr(config)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELD_VALUES = st.one_of(
    JSON,
    st.sampled_from([*ACTIONS, "nightly", "a" * 200, "../x", "2025-04-07T10:15:30Z",
                     "2025-13-40T99:99:99Z", "2025-04-07", "+002025-04-07T10:15:30", "\x00"]),
    st.datetimes().map(lambda at: at.isoformat()),
)  # fmt: skip
MANUAL = st.dictionaries(
    st.sampled_from(["action", "name", "compress", "timestamp", "key"]), FIELD_VALUES, max_size=5
)
SCHEDULED = st.fixed_dictionaries(
    {"detail-type": st.sampled_from(["Scheduled Event", "Other"]), "source": JSON}
)
EVENTS = st.one_of(JSON, MANUAL, SCHEDULED)


@FUZZ
@given(EVENTS)
@example({"name": "x" * 70_000})
@example({"timestamp": "9999-12-31T23:59:59+23:59"})
@example({"key": {"nested": float("nan")}, "action": "verify"})
def test_parse_event_raises_only_typed_errors(event: Any) -> None:
    error: BackupNimbusError | None = None
    try:
        invocation = parse_event(event)
    except BackupNimbusError as raised:
        error = raised
    if error is not None:
        assert (error.code, error.exit_code) == ("CONFIG_ERROR", 2)
        return
    assert isinstance(invocation, Invocation)
    assert invocation.action in ACTIONS
    assert invocation.compress in (None, True, False)


def test_every_variable_the_loader_reads_is_fuzzed() -> None:
    """The variables are attribute names of the Environment schema, not quoted strings in the
    loader's source: a regex over the source alone fuzzed barely half of them."""
    schema = {field.name for field in attrs.fields(Environment)}

    assert sorted(schema - set(VARIABLES)) == []
    # A URI with a password, as MONGO_URI and RESTORE_TARGET_URI are.
    assert "DRILL_TARGET_URI" in SECRET_VARIABLES
