"""`backupnimbus drill` and the Lambda `drill` action: real mongodump and mongorestore, a
SecantusDB of the drill's own (so that its databases are exactly known), moto S3 and SES."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import boto3
import pytest
from pymongo import ASCENDING, DESCENDING, MongoClient

from backupnimbus.domain.restore_drill import DrillRequest, RestoreDrill
from backupnimbus.entrypoints.container import bootstrap, config_from_environment
from backupnimbus.entrypoints.jobs import Jobs
from backupnimbus.errors import DrillFailedError
from tests.support.bson_corpus import seed_every_type
from tests.support.cli import REGION, REPO, b64, run_cli
from tests.support.lambda_emulator import ENTRYPOINT, emulator
from tests.support.servers import Secantus, built_path, start_secantus, venv_script
from tests.support.ses import SENDER, moto_sent

pytestmark = pytest.mark.e2e

RECIPIENT = "oncall@example.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secantus]:
    """A server of its own: the drill dumps the whole deployment and its databases are
    compared before and after, so no other test's data may come and go on it."""
    started = start_secantus(tmp_path_factory.mktemp("drill-secantus") / "data")
    yield started
    started.stop()


@pytest.fixture(scope="module")
def lambda_rie() -> Path:
    return built_path("LAMBDA_RIE", "build-lambda-rie")


@pytest.fixture
def client(server: Secantus) -> Iterator[MongoClient[Any]]:
    connected: MongoClient[Any] = MongoClient(server.uri)
    yield connected
    connected.close()


@pytest.fixture
def seeded(client: MongoClient[Any]) -> Iterator[list[str]]:
    """Several databases and collections, indexes, and every BSON type."""
    tag = uuid.uuid4().hex[:6]
    names = [f"shop_{tag}", f"crm_{tag}"]
    seed_every_type(client[names[0]])
    orders = client[names[0]].orders
    orders.insert_many({"_id": n, "customer": f"c{n % 37}", "total": n * 1.5} for n in range(500))
    orders.create_index([("customer", ASCENDING), ("total", DESCENDING)], name="by_customer")
    client[names[1]].contacts.insert_many(
        {"name": f"n{n}", "tags": [n, str(n)]} for n in range(120)
    )
    client[names[1]].contacts.create_index("name", unique=True, name="name_unique")
    yield names
    for name in names:
        client.drop_database(name)


@pytest.fixture
def drill_env(backup_env: dict[str, str], server: Secantus, ses_endpoint: str) -> dict[str, str]:
    ses = boto3.client("ses", endpoint_url=ses_endpoint, region_name=REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    ses.verify_email_identity(EmailAddress=SENDER)
    return {
        **backup_env,
        "MONGO_URI": b64(server.uri),
        "DRILL_TARGET_URI": b64(server.uri),
        "DRILL_ALLOW_SOURCE": "true",
        "BACKUP_NAME": f"drill-{uuid.uuid4().hex[:8]}",
        "NOTIFICATIONS_ENABLED": "true",
        "NOTIFICATION_SENDER_EMAIL": b64(SENDER),
        "NOTIFICATION_RECIPIENTS": b64(RECIPIENT),
    }


def _layout(client: MongoClient[Any]) -> dict[str, list[str]]:
    return {
        name: sorted(client[name].list_collection_names())
        for name in sorted(client.list_database_names())
    }


def _backup(env: dict[str, str]) -> dict[str, Any]:
    completed = run_cli(["run", "--json"], env)
    assert completed.returncode == 0, completed.stderr
    return dict(json.loads(completed.stdout))


def _metrics(stderr: str) -> list[dict[str, Any]]:
    records = []
    for line in stderr.splitlines():
        with_metric = line.startswith("{") and "RestoreDrillSucceeded" in line
        if with_metric:
            records.append(json.loads(line))
    return records


def _scratch(client: MongoClient[Any]) -> list[str]:
    return [n for n in client.list_database_names() if n.startswith("bn_drill_")]


def test_a_drill_restores_checks_and_leaves_the_target_as_it_was(
    drill_env: dict[str, str], client: MongoClient[Any], seeded: list[str], ses_endpoint: str
) -> None:
    shop, crm = seeded
    backup = _backup(drill_env)
    before = _layout(client)
    # A drill killed before it could clean up left this behind.
    client["bn_drill_20000101T000000Z_old"].junk.insert_one({"left": "over"})

    completed = run_cli(["drill", "--json", "--seed", "7"], drill_env)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    result = json.loads(completed.stdout)
    assert result["status"] == "passed"
    assert result["key"] == backup["key"]
    assert result["collections"] == {
        f"{shop}.every_type": {"documents": 10, "indexes": 3, "sampled": 10},
        f"{shop}.capped_log": {"documents": 50, "indexes": 1, "sampled": 50},
        f"{shop}.people": {"documents": 300, "indexes": 2, "sampled": 100},
        f"{shop}.orders": {"documents": 500, "indexes": 2, "sampled": 100},
        f"{crm}.contacts": {"documents": 120, "indexes": 2, "sampled": 100},
    }
    assert result["sample"] == {"size": 100, "seed": 7}
    assert result["scratch_prefix"].startswith("bn_drill_")
    assert result["dropped_leftovers"] == ["bn_drill_20000101T000000Z_old"]
    assert result["rto_s"] > 0
    assert result["mb_per_s"] > 0
    assert result["rto_s"] >= result["phases_s"]["restore"] > 0
    assert result["store"]["backend"] == "s3"
    assert _layout(client) == before
    [metric] = _metrics(completed.stderr)
    assert metric["RestoreDrillSucceeded"] == 1
    assert metric["RestoreDrillSeconds"] == result["rto_s"]
    assert metric["BackupName"] == drill_env["BACKUP_NAME"]
    [mail] = moto_sent(
        ses_endpoint, "[BackupNimbus] Restore drill passed: " + drill_env["BACKUP_NAME"]
    )
    assert backup["key"] in mail.body
    assert "RTO" in mail.body

    text = run_cli(["drill", "--seed", "7"], drill_env)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"Restore drill passed: {backup['key']}")
    assert f"{crm}.contacts" in text.stdout
    assert _layout(client) == before


def test_a_drill_of_a_corrupt_backup_fails_with_its_metric_and_mail(
    drill_env: dict[str, str], client: MongoClient[Any], seeded: list[str], s3: Any,
    bucket: str, ses_endpoint: str,
) -> None:  # fmt: skip
    backup = _backup(drill_env)
    before = _layout(client)
    body = bytearray(s3.get_object(Bucket=bucket, Key=backup["key"])["Body"].read())
    body[len(body) // 2] ^= 0x01
    s3.put_object(Bucket=bucket, Key=backup["key"], Body=bytes(body))

    completed = run_cli(["drill", "--json"], drill_env)

    assert completed.returncode == 1, completed.stdout + completed.stderr
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "VERIFY_ERROR"
    assert "sha256 mismatch" in error["message"]
    assert error["details"]["notification"] == {"sent": True, "error": None}
    [metric] = _metrics(completed.stderr)
    assert metric["RestoreDrillSucceeded"] == 0
    [mail] = moto_sent(ses_endpoint, "[BackupNimbus] Restore drill failed: VERIFY_ERROR")
    assert backup["key"] in mail.body
    assert _layout(client) == before
    assert "Traceback" not in completed.stderr


def test_the_sample_catches_a_document_changed_in_the_scratch_copy(
    drill_env: dict[str, str], client: MongoClient[Any], seeded: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    shop, _ = seeded
    _backup(drill_env)
    before = _layout(client)
    for name, value in drill_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NOTIFICATIONS_ENABLED", "false")
    app = bootstrap(config_from_environment())
    jobs = Jobs(config=app.config, container=app.container)
    drill: RestoreDrill = jobs.container.resolve(RestoreDrill)
    changed: list[str] = []

    def tamper(scratch: Any) -> None:
        [orders] = [ns for ns, source in scratch.items() if source == f"{shop}.orders"]
        db, _, collection = orders.partition(".")
        client[db][collection].update_one({"_id": 321}, {"$set": {"total": -1.0}})
        changed.append(orders)

    tampered = attrs.evolve(drill, after_restore=tamper)
    with pytest.raises(DrillFailedError) as failed:
        # Every one of the 500 orders is in a sample of 1000.
        tampered.run(request=DrillRequest(name=drill_env["BACKUP_NAME"], sample_size=1000))

    assert changed
    assert failed.value.details["problems"] == [
        f"{shop}.orders: the document with _id 321 differs from the archive's"
    ]
    assert _layout(client) == before


def test_a_drill_refuses_the_backups_own_source_unless_allowed(
    drill_env: dict[str, str], client: MongoClient[Any], seeded: list[str]
) -> None:
    _backup(drill_env)
    env = {k: v for k, v in drill_env.items() if k != "DRILL_ALLOW_SOURCE"}

    completed = run_cli(["drill", "--json"], env)

    assert completed.returncode == 2, completed.stdout + completed.stderr
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "CONFIG_ERROR"
    assert "DRILL_ALLOW_SOURCE" in error["message"]
    assert not _scratch(client)


def test_sigterm_in_the_middle_of_the_restore_leaves_no_scratch_namespace(
    drill_env: dict[str, str], client: MongoClient[Any], tmp_path: Path
) -> None:
    big = f"big_{uuid.uuid4().hex[:6]}"
    filler = "x" * 400
    for start in range(0, 200_000, 20_000):
        client[big].rows.insert_many(
            {"_id": n, "pad": filler} for n in range(start, start + 20_000)
        )
    try:
        _backup(drill_env)
        base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
        env = {**base, **drill_env, "PYTHONPATH": str(REPO)}
        with (tmp_path / "out").open("wb") as out, (tmp_path / "err").open("wb") as err:
            process = subprocess.Popen(
                [venv_script("backupnimbus"), "drill", "--json"], env=env, stdout=out, stderr=err
            )
            deadline = time.monotonic() + 120
            while not any(f"_{big}" in n for n in _scratch(client)):
                assert process.poll() is None, (tmp_path / "err").read_text()
                assert time.monotonic() < deadline, "the restore never began"
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=120)
        result = json.loads((tmp_path / "out").read_text())
        assert code == 1, result
        assert result["error"]["code"] == "TIMEOUT"
        assert "SIGTERM" in result["error"]["message"]
        assert not _scratch(client)
    finally:
        client.drop_database(big)


def test_the_lambda_drill_action_through_the_runtime(
    drill_env: dict[str, str], client: MongoClient[Any], seeded: list[str], lambda_rie: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    backup = _backup(drill_env)
    before = _layout(client)
    env = {k: v for k, v in drill_env.items() if not k.startswith("AWS_SECRET") and
           not k.startswith("AWS_ACCESS")}  # fmt: skip

    with emulator(lambda_rie, env, [str(ENTRYPOINT)], tmp_path) as rie:
        result = rie.invoke({"action": "drill"})
        log = rie.output()

    assert result.get("status") == "passed", (result, log[-3000:])
    assert result["key"] == backup["key"]
    assert sum(c["documents"] for c in result["collections"].values()) == 10 + 50 + 300 + 500 + 120
    assert '"RestoreDrillSucceeded": 1' in log or '"RestoreDrillSucceeded":1' in log
    assert _layout(client) == before
