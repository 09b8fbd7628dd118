"""Secret variables that hold `ssm:` and `secretsmanager:` references, read from moto in server
mode: a real backup through the CLI, the failures an operator meets, and what is never shown."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Literal

import boto3
import pytest
import tenacity
from botocore.config import Config as BotoConfig
from pymongo import MongoClient

from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.adapters.secretsmanager_secrets import SecretsManagerSecrets
from backupnimbus.adapters.ssm_secrets import SsmParameterSecrets
from backupnimbus.entrypoints.container import config_from_environment
from backupnimbus.errors import ConfigInvalidError, SecretUnavailableError
from tests.support.cli import FAKE_AWS, REGION, b64, run_cli
from tests.support.servers import Secantus, free_port

NO_WAIT = RetryPolicy(wait=tenacity.wait_none())


def _client(service: Literal["ssm", "secretsmanager"], endpoint: str) -> Any:
    # One attempt per call, as the container makes them: the retries are RetryPolicy's.
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=BotoConfig(retries={"total_max_attempts": 1}, connect_timeout=2),
    )  # fmt: skip


@pytest.fixture
def ssm(moto_endpoint: str) -> Any:
    return _client("ssm", moto_endpoint)


@pytest.fixture
def secretsmanager(moto_endpoint: str) -> Any:
    return _client("secretsmanager", moto_endpoint)


def _calls(client: Any, operation: str) -> list[str]:
    """Records every request the real client sends for `operation` (botocore's own events)."""
    seen: list[str] = []
    client.meta.events.register(
        f"before-call.*.{operation}", lambda **kwargs: seen.append(operation)
    )
    return seen


@pytest.fixture
def reference_env(backup_env: dict[str, str], moto_endpoint: str) -> dict[str, str]:
    """backup_env, with SSM and Secrets Manager on moto too."""
    return {
        **backup_env,
        "AWS_ENDPOINT_URL_SSM": moto_endpoint,
        "AWS_ENDPOINT_URL_SECRETSMANAGER": moto_endpoint,
    }


def _leaky_mongodump(tmp_path: Path, mongo_tools: Path) -> Path:
    """A mongodump that prints its whole configuration (the URI) to stderr and fails."""
    wrapper = tmp_path / "leaky-mongodump"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = --version ] && exec "{mongo_tools / "mongodump"}" --version\n'
        'for a in "$@"; do case "$a" in --config=*) cat "${a#--config=}" >&2;; esac; done\n'
        "exit 1\n"
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


@pytest.mark.e2e
def test_a_backup_reads_its_uri_from_ssm_and_its_bucket_from_secrets_manager(
    reference_env: dict[str, str], secantus: Secantus, database: str, ssm: Any,
    secretsmanager: Any, s3: Any, bucket: str, mongo_tools: Path, tmp_path: Path,
) -> None:  # fmt: skip
    password = f"Pw-{uuid.uuid4().hex}"
    user = f"u{uuid.uuid4().hex[:8]}"
    client: MongoClient[Any] = MongoClient(secantus.uri)
    client.admin.command("createUser", user, pwd=password, roles=["root"])
    client[database].things.insert_many({"n": n} for n in range(40))
    uri = f"mongodb://{user}:{password}@127.0.0.1:{secantus.port}/?authSource=admin"
    parameter = f"/bn-{uuid.uuid4().hex[:8]}/mongo-uri"
    ssm.put_parameter(Name=parameter, Value=uri, Type="SecureString")
    secret = f"bn-{uuid.uuid4().hex[:8]}"
    secretsmanager.create_secret(
        Name=secret, SecretString=json.dumps({"bucket": bucket, "unused": "x"})
    )
    env = {
        **reference_env,
        "MONGO_URI": f"ssm:{parameter}",
        "AWS_S3_BUCKET_NAME": f"secretsmanager:{secret}#bucket",
        "MONGODUMP_NS_INCLUDE": f"{database}.*",
        "BACKUP_NAME": "refs",
    }

    backup = run_cli(["run", "--json"], env)
    listing = run_cli(["list", "--json"], env)
    verify = run_cli(["verify", "--latest", "--json"], env)
    failure = run_cli(
        ["run", "--json", "--timestamp", "2020-01-01T00:00:00Z"],
        {**env, "MONGODUMP_PATH": str(_leaky_mongodump(tmp_path, mongo_tools))},
    )

    assert backup.returncode == 0, backup.stdout + backup.stderr
    result = json.loads(backup.stdout)
    assert result["manifest"]["namespaces"] == {f"{database}.things": 40}
    manifest = s3.get_object(Bucket=bucket, Key=result["manifest_key"])["Body"].read().decode()
    assert json.loads(manifest)["source"]["hosts"] == [f"127.0.0.1:{secantus.port}"]
    assert listing.returncode == 0, listing.stderr
    assert result["key"] in listing.stdout
    assert verify.returncode == 0, verify.stderr
    assert failure.returncode == 1
    assert json.loads(failure.stdout)["error"]["code"] == "DUMP_ERROR"
    assert "stderr_tail" in failure.stdout  # the URI mongodump echoed did reach the tail
    outputs = {
        "backup": backup.stdout + backup.stderr, "list": listing.stdout + listing.stderr,
        "verify": verify.stdout + verify.stderr, "failure": failure.stdout + failure.stderr,
        "manifest": manifest,
    }  # fmt: skip
    for where, text in outputs.items():
        assert password not in text, f"the SSM-stored password leaked into {where}"
        assert uri not in text, f"the SSM-stored URI leaked into {where}"


@pytest.mark.e2e
def test_a_missing_parameter_exits_2_naming_the_variable_and_the_reference(
    reference_env: dict[str, str],
) -> None:
    reference = f"ssm:/bn-missing-{uuid.uuid4().hex[:8]}/mongo-uri"

    completed = run_cli(["run", "--json"], {**reference_env, "MONGO_URI": reference})

    assert completed.returncode == 2
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "CONFIG_ERROR"
    [problem] = error["details"]["problems"]
    assert problem.startswith(f"MONGO_URI: {reference} could not be read: ParameterNotFound")
    assert "ssm:GetParameter" in problem
    assert "Traceback" not in completed.stdout + completed.stderr


def test_each_parameter_is_read_once_per_run(ssm: Any) -> None:
    name = f"/bn-{uuid.uuid4().hex[:8]}/shared"
    ssm.put_parameter(Name=name, Value="ops@example.com", Type="SecureString")
    calls = _calls(ssm, "GetParameter")
    environ = {"NOTIFICATION_SENDER_EMAIL": f"ssm:{name}", "NOTIFICATION_RECIPIENTS": f"ssm:{name}"}
    secrets = SsmParameterSecrets(environ=environ, client=ssm, retry=NO_WAIT)

    values = [secrets.reveal(name=variable) for variable in [*environ, *environ]]

    assert values == ["ops@example.com"] * 4
    assert calls == ["GetParameter"]


def test_one_secret_serves_many_variables_with_one_read(secretsmanager: Any) -> None:
    name = f"bn-{uuid.uuid4().hex[:8]}"
    uri = "mongodb://backup:s3cret@db.example.com/app"
    secretsmanager.create_secret(
        Name=name, SecretString=json.dumps({"uri": uri, "bucket": "acme-backups"})
    )
    calls = _calls(secretsmanager, "GetSecretValue")
    environ = {
        "MONGO_URI": f"secretsmanager:{name}#uri",
        "AWS_S3_BUCKET_NAME": f"secretsmanager:{name}#bucket",
        "NOTIFICATION_SENDER_EMAIL": f"secretsmanager:{name}",
    }
    secrets = SecretsManagerSecrets(environ=environ, client=secretsmanager, retry=NO_WAIT)

    values = {variable: secrets.reveal(name=variable) for variable in environ}

    assert values["MONGO_URI"] == uri
    assert values["AWS_S3_BUCKET_NAME"] == "acme-backups"
    assert json.loads(values["NOTIFICATION_SENDER_EMAIL"] or "") == {
        "uri": uri, "bucket": "acme-backups"
    }  # fmt: skip
    assert calls == ["GetSecretValue"]


PLANTED = f"planted-{uuid.uuid4().hex}"


@pytest.mark.parametrize(
    ("store", "reference", "complaint"),
    [
        (None, "secretsmanager:{name}-gone#bucket", "could not be read: ResourceNotFoundException"),
        ({"bucket": PLANTED}, "secretsmanager:{name}#bukket", "has no key 'bukket'"),
        (f"not json {PLANTED}", "secretsmanager:{name}#bucket", "is not a JSON object"),
        ({"bucket": [PLANTED]}, "secretsmanager:{name}#bucket", "under 'bucket' is not a string"),
        (PLANTED.encode(), "secretsmanager:{name}", "holds binary data (SecretBinary)"),
        ({"bucket": PLANTED}, "secretsmanager:#bucket", "is not a valid reference"),
        ({"bucket": PLANTED}, "secretsmanager:{name}#", "is not a valid reference"),
    ],
)
def test_an_unusable_secret_is_a_configuration_error_that_shows_no_value(
    reference_env: dict[str, str], secretsmanager: Any, store: Any, reference: str,
    complaint: str,
) -> None:  # fmt: skip
    name = f"bn-{uuid.uuid4().hex[:8]}"
    if isinstance(store, bytes):
        secretsmanager.create_secret(Name=name, SecretBinary=store)
    elif store is not None:
        text = store if isinstance(store, str) else json.dumps(store)
        secretsmanager.create_secret(Name=name, SecretString=text)
    reference = reference.format(name=name)

    with pytest.raises(ConfigInvalidError) as caught:
        config_from_environment({**reference_env, "AWS_S3_BUCKET_NAME": reference})

    assert caught.value.exit_code == 2
    [problem] = caught.value.problems
    assert problem.startswith(f"AWS_S3_BUCKET_NAME: {reference}")
    assert complaint in problem
    assert PLANTED not in json.dumps(caught.value.to_document())


@pytest.mark.parametrize("variable", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"])
def test_the_aws_credentials_cannot_be_references(
    reference_env: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigInvalidError) as caught:
        config_from_environment({**reference_env, variable: "ssm:/bn/aws-key"})

    assert any(
        p.startswith(f"{variable} cannot be a secret reference") for p in caught.value.problems
    )


def test_inside_lambda_references_are_read_with_the_runtimes_plain_credentials(
    moto_endpoint: str, ssm: Any
) -> None:
    name = f"/bn-{uuid.uuid4().hex[:8]}/uri"
    ssm.put_parameter(Name=name, Value="mongodb://u:pw@db.example.com/app", Type="SecureString")
    environ = {
        **FAKE_AWS,  # plain, as the Lambda runtime sets them; base64-decoding them would fail
        "AWS_SESSION_TOKEN": "token",
        "AWS_LAMBDA_FUNCTION_NAME": "backupnimbus",
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_SSM": moto_endpoint,
        "MONGO_URI": f"ssm:{name}",
    }

    config = config_from_environment(environ, require_store=False)

    assert config.mongo_uri == "mongodb://u:pw@db.example.com/app"
    assert "mongodb://u:pw@db.example.com/app" in config.secret_values()


def test_an_unreachable_store_is_retried_then_fails_with_exit_1() -> None:
    unreachable = _client("ssm", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    calls = _calls(unreachable, "GetParameter")
    secrets = SsmParameterSecrets(
        environ={"MONGO_URI": "ssm:/prod/mongo-uri"},
        client=unreachable,
        retry=RetryPolicy(attempts=3, wait=tenacity.wait_none()),
    )

    with pytest.raises(SecretUnavailableError) as caught:
        secrets.reveal(name="MONGO_URI")

    assert calls == ["GetParameter"] * 3
    assert caught.value.exit_code == 1
    assert caught.value.message == (
        "MONGO_URI: ssm:/prod/mongo-uri could not be read: EndpointConnectionError "
        "(after 3 attempts)"
    )


def test_without_references_no_aws_client_is_made() -> None:
    # In a fresh interpreter: the test process itself has long imported boto3.
    script = (
        "import sys\n"
        "from backupnimbus.entrypoints.container import config_from_environment\n"
        f"config_from_environment({{'MONGO_URI': {b64('mongodb://h/')!r}, "
        f"'AWS_S3_BUCKET_NAME': {b64('acme-backups')!r}}})\n"
        "print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))\n"
    )

    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
