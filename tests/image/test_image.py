"""The image, built from the real Dockerfile and run on a real Docker engine (`make image-test`):
the CLI, the Lambda runtime through the Runtime Interface Emulator inside the container, a
`docker stop` in the middle of a backup, and the template's Fargate task, all against SecantusDB
and moto on the host network (127.0.0.1 only)."""

from __future__ import annotations

import json
import os
import socket
import stat
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bson import Binary
from pymongo import MongoClient

from tests.support.cfn_template import Rendered
from tests.support.cli import b64
from tests.support.docker import Docker, container_name, write_env_file
from tests.support.lambda_events import SCHEDULED_EVENT
from tests.support.servers import Secantus, built_path, free_port

MiB = 1024 * 1024
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
RIE_IN_CONTAINER = "/usr/local/bin/aws-lambda-rie"
ENTRYPOINT_IN_CONTAINER = "/usr/local/bin/backupnimbus-entrypoint"
GROWTH_BUDGET = 100 * 1000 * 1000  # bytes over the base image, as `docker images` counts them
STOP_GRACE_S = 30


@pytest.fixture
def container_env(backup_env: dict[str, str], database: str, secantus: Secantus) -> dict[str, str]:
    """backup_env for the container: the image's own mongodump, nothing of the host's paths."""
    things = MongoClient[dict[str, Any]](secantus.uri)[database].things
    things.insert_many({"n": n} for n in range(50))
    env = {k: v for k, v in backup_env.items() if k not in {"MONGODUMP_PATH", "LOCAL_BACKUP_DIR"}}
    env.pop("AWS_ENDPOINT_URL_SES")  # no mail is sent: NOTIFICATIONS_ENABLED is off by default
    return {**env, "MONGODUMP_NS_INCLUDE": f"{database}.*", "BACKUP_NAME": "image"}


def stored(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def open_uploads(s3: Any, bucket: str) -> list[str]:
    return [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def last_json(text: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    return document


# --- 1. the bare image ---------------------------------------------------------------------------


def test_the_image_prints_its_version_and_refuses_to_run_unconfigured(docker: Docker) -> None:
    version = docker.run(["--version"])
    unconfigured = docker.run([])

    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("backupnimbus "), version.stdout
    assert unconfigured.returncode == 2
    output = unconfigured.stdout + unconfigured.stderr
    assert last_json(output)["error"]["code"] == "CONFIG_ERROR", output
    assert "MONGO_URI" in output
    assert "Traceback" not in output


# --- 2. the CLI ----------------------------------------------------------------------------------


def test_the_cli_backs_up_verifies_and_rehearses_a_restore_from_the_image(
    docker: Docker, container_env: dict[str, str], secantus: Secantus, s3: Any, bucket: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    env_file = write_env_file(
        tmp_path / "backup.env", {**container_env, "RESTORE_TARGET_URI": b64(secantus.uri)}
    )

    backup = docker.run(["run", "--json"], env_file=env_file)
    assert backup.returncode == 0, backup.stderr[-3000:]
    result = last_json(backup.stdout)
    verify = docker.run(["verify", "--latest", "--name", "image", "--json"], env_file=env_file)
    rehearsal = docker.run(
        ["restore", "--latest", "--name", "image", "--dry-run", "--json"], env_file=env_file
    )

    assert result["key"].startswith("backups/image/")
    assert stored(s3, bucket) == sorted([result["key"], result["manifest_key"]])
    assert verify.returncode == 0, verify.stdout + verify.stderr[-3000:]
    assert result["key"] in verify.stdout
    assert rehearsal.returncode == 0, rehearsal.stdout + rehearsal.stderr[-3000:]
    assert "things" in rehearsal.stdout
    assert stored(s3, bucket) == sorted([result["key"], result["manifest_key"]])


# --- 3. Lambda, through the Runtime Interface Emulator inside the container -----------------------


class LambdaContainer:
    def __init__(self, docker: Docker, name: str, url: str) -> None:
        self.docker, self.name, self.url = docker, name, url

    def invoke(self, event: Any) -> dict[str, Any]:
        # Always the emulator's http:// loopback URL, never user input.
        request = urllib.request.Request(  # noqa: S310
            self.url + INVOKE_PATH, data=json.dumps(event).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310
            assert response.status == 200, self.logs()
            document: dict[str, Any] = json.loads(response.read())
        return document

    def logs(self) -> str:
        done = self.docker("logs", self.name)
        return done.stdout + done.stderr


@pytest.fixture
def lambda_container(
    docker: Docker, container_env: dict[str, str], tmp_path: Path
) -> Iterator[Any]:
    """Starts the image as Lambda would, with the emulator as the entry point's wrapper.

    No AWS_ACCESS_KEY_ID is given: the emulator then exports it (and the secret key) as an empty
    string, and the keys come from a mounted shared credentials file, as in docs/deploy.md."""
    rie = built_path("LAMBDA_RIE", "build-lambda-rie")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    credentials.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    started: list[str] = []

    def start(overrides: dict[str, str] | None = None) -> LambdaContainer:
        env = {k: v for k, v in container_env.items() if not k.startswith("AWS_ACCESS_KEY_ID")}
        env.pop("AWS_SECRET_ACCESS_KEY")
        env.update(overrides or {})
        env.update(AWS_LAMBDA_FUNCTION_NAME="backupnimbus", AWS_LAMBDA_FUNCTION_TIMEOUT="300",
                   AWS_SHARED_CREDENTIALS_FILE="/run/aws/credentials")  # fmt: skip
        port, api_port = free_port(), free_port()
        name = container_name()
        options = ("--detach", "--name", name, "--entrypoint", RIE_IN_CONTAINER,
                   "--volume", f"{rie}:{RIE_IN_CONTAINER}:ro",
                   "--volume", f"{credentials}:/run/aws/credentials:ro")  # fmt: skip
        args = ["--runtime-interface-emulator-address", f"127.0.0.1:{port}",
                "--runtime-api-address", f"127.0.0.1:{api_port}",
                ENTRYPOINT_IN_CONTAINER]  # fmt: skip
        flags = [f for f in docker.options(env, None) if f != "--rm"]
        docker("run", *flags, *options, docker.image, *args, check=True)
        started.append(name)
        running = LambdaContainer(docker, name, f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return running
            except OSError:
                state = docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip()
                if state != "true" or time.monotonic() > deadline:
                    pytest.fail(f"the emulator did not listen:\n{running.logs()[-3000:]}")
                time.sleep(0.2)

    yield start
    for name in started:
        docker("rm", "-f", name)


def test_lambda_mode_backs_up_on_a_scheduled_event_and_verifies_on_request(
    lambda_container: Any, s3: Any, bucket: str
) -> None:
    function = lambda_container()

    backup = function.invoke(SCHEDULED_EVENT)
    verify = function.invoke({"action": "verify"})
    logs = function.logs()

    assert backup.get("status") == "success", (backup, logs[-3000:])
    assert backup["key"].startswith("backups/image/")
    assert stored(s3, bucket) == sorted([backup["key"], backup["manifest_key"]])
    assert "errorType" not in verify, (verify, logs[-3000:])
    assert backup["key"] in json.dumps(verify), verify
    assert logs.count("INIT START") == 1  # one warm runtime served both
    assert "Traceback" not in logs


def test_lambda_mode_reports_a_bad_configuration_as_a_function_error_document(
    lambda_container: Any, s3: Any, bucket: str
) -> None:
    function = lambda_container({"AWS_S3_BUCKET_NAME": "%%% not base64"})

    response = function.invoke(SCHEDULED_EVENT)

    assert response["errorType"] == "InvocationFailedError", response
    document = json.loads(response["errorMessage"])
    assert document["error"]["code"] == "CONFIG_ERROR"
    assert "AWS_S3_BUCKET_NAME" in document["error"]["message"]
    assert stored(s3, bucket) == []


# --- 4. docker stop in the middle of a backup -----------------------------------------------------


@pytest.fixture(scope="module")
def big_database(secantus: Secantus) -> str:
    """~12 MB of random bytes: more than a part, which gzip cannot shrink."""
    name = f"big_{uuid.uuid4().hex[:10]}"
    db = MongoClient[dict[str, Any]](secantus.uri)[name]
    db.blobs.insert_many({"n": n, "blob": Binary(os.urandom(100_000))} for n in range(120))
    return name


def test_docker_stop_mid_backup_ends_the_run_cleanly_within_the_grace_period(
    docker: Docker, container_env: dict[str, str], big_database: str, s3: Any, bucket: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    # The image's own mongodump streams its first 9 MiB (a part is uploaded), then stalls as a
    # slow server would, so the stop lands mid-backup.
    slow = tmp_path / "mongodump"
    slow.write_text(
        "#!/bin/sh\n"
        'case "$1" in --version) exec /opt/mongo-tools/mongodump "$@";; esac\n'
        f'/opt/mongo-tools/mongodump "$@" | head -c {9 * MiB}\n'
        "exec sleep 600\n"
    )
    slow.chmod(0o755)
    env = {**container_env, "MONGODUMP_NS_INCLUDE": f"{big_database}.*",
           "MONGODUMP_PATH": "/opt/slow/mongodump"}  # fmt: skip
    name = container_name()
    flags = [f for f in docker.options(env, None) if f != "--rm"]
    docker("run", *flags, "--detach", "--name", name, "--volume", f"{slow}:/opt/slow/mongodump:ro",
           docker.image, "run", "--json", check=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not any(
            s3.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]).get("Parts")
            for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        ):
            running = docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip()
            assert running == "true", docker("logs", name).stderr[-3000:]
            assert time.monotonic() < deadline, "the backup never uploaded its first part"
            time.sleep(0.2)

        started = time.monotonic()
        stopped = docker("stop", "--time", str(STOP_GRACE_S), name, timeout=STOP_GRACE_S + 30)
        elapsed = time.monotonic() - started
        code = docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
        logs = docker("logs", name)
    finally:
        docker("rm", "-f", name)

    assert stopped.returncode == 0, stopped.stderr
    assert elapsed < STOP_GRACE_S, elapsed  # stopped by SIGTERM, not killed at the grace's end
    assert code == "1", (code, logs.stderr[-3000:])
    assert last_json(logs.stdout)["error"]["code"] == "TIMEOUT", logs.stdout
    assert stored(s3, bucket) == []
    assert open_uploads(s3, bucket) == []


# --- 5. the Fargate task of deploy/template.yaml ------------------------------------------------


def test_the_fargate_task_definition_runs_the_image_as_the_template_gives_it(
    docker: Docker, container_env: dict[str, str], secantus: Secantus, s3: Any, bucket: str
) -> None:
    stack = Rendered({"ScheduledRunner": "fargate", "FargateSubnetIds": "subnet-0abc",
                      "MongoUri": secantus.uri, "BucketName": bucket})  # fmt: skip
    (task,) = stack.props("TaskDefinition")["ContainerDefinitions"]
    template_env = {pair["Name"]: pair["Value"] for pair in task["Environment"]}
    # What ECS adds at run time (the task role's keys) and the test's stand-in for AWS.
    added = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3")
    runtime_env = {name: container_env[name] for name in added}
    volumes = {v["Name"] for v in stack.props("TaskDefinition")["Volumes"]}
    mounts = {m["ContainerPath"] for m in task["MountPoints"] if m["SourceVolume"] in volumes}
    assert task["ReadonlyRootFilesystem"] is True  # docker.run's --read-only
    assert mounts == {"/tmp"}  # docker.run's --tmpfs /tmp
    assert not set(template_env) & set(runtime_env)
    assert "User" not in task  # the image's own unprivileged user, as docker.run's --user

    done = docker.run(list(task["Command"]), env={**template_env, **runtime_env})

    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    keys = stored(s3, bucket)
    prefix = f"{template_env['BACKUP_PREFIX']}{template_env['BACKUP_NAME']}/"
    assert len(keys) == 2, keys
    assert all(key.startswith(prefix) for key in keys), keys
    assert f"Backup complete: {min(keys, key=len)}" in done.stdout


# --- 6. the size ----------------------------------------------------------------------------------


def test_the_image_grows_its_base_by_at_most_100_mb(docker: Docker, base_image: str) -> None:
    size = int(docker("image", "inspect", "-f", "{{.Size}}", docker.image, check=True).stdout)
    base = int(docker("image", "inspect", "-f", "{{.Size}}", base_image, check=True).stdout)

    print(f"image {size / 1e6:.0f} MB = base {base / 1e6:.0f} MB + {(size - base) / 1e6:.0f} MB")
    assert size - base <= GROWTH_BUDGET, (size, base)
