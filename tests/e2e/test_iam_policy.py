"""The template's least-privilege policy, held against what the code calls.

The policy deploy/template.yaml gives the Lambda function and the Fargate task (one managed
policy, BackupAccessPolicy) is rendered for a bucket and prefix and given to an IAM user of a moto
server that enforces IAM (INITIAL_NO_AUTH_ACTION_COUNT: the first requests set up the bucket,
the users and their keys; every later one is checked). The CLI then runs with that user's keys:
backup, a lost CreateMultipartUpload response, a failed manifest write, list, verify, restore,
check and prune. Every call must be allowed; and every S3 action the policy grants must be one
the code calls. A stack whose URIs are references reads them, as the template renders them, under
the policy it renders for them."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.cfn_template import Rendered, as_list
from tests.support.cli import REGION, b64, run_cli
from tests.support.fault_proxy import Action, FaultProxy, Rule
from tests.support.servers import (
    REPO,
    Secantus,
    free_port,
    start_listening,
    stop_process,
    venv_script,
)

PREFIX = "backups/"
BUCKET = f"iam-{uuid.uuid4().hex[:12]}"
# The free requests: the bucket, an administrator (user, inline policy, keys) for the test's
# own look-ups, and two backup users (user, managed policy, attachment, keys).
FREE_REQUESTS = 1 + 3 + 2 * 4
# boto3 operations -> the IAM action S3 checks for them.
S3_ACTIONS = {
    "put_object": "s3:PutObject",
    "create_multipart_upload": "s3:PutObject",
    "upload_part": "s3:PutObject",
    "complete_multipart_upload": "s3:PutObject",
    "abort_multipart_upload": "s3:AbortMultipartUpload",
    "get_object": "s3:GetObject",
    "head_object": "s3:GetObject",
    "list_objects_v2": "s3:ListBucket",
    "get_paginator": "s3:ListBucket",  # list_objects_v2 pages
    "head_bucket": "s3:ListBucket",
    "list_multipart_uploads": "s3:ListBucketMultipartUploads",
    "delete_object": "s3:DeleteObject",
    "put_object_retention": "s3:PutObjectRetention",
    "get_object_lock_configuration": "s3:GetBucketObjectLockConfiguration",
}
IMPLIED = {"s3:GetObject": {"s3:GetObjectRetention"}}
"""HeadObject answers with an object's lock only to a caller that may read it."""
SES_OPERATIONS = {"get_identity_verification_attributes", "send_email"}
S3_CALLERS = ("backupnimbus/adapters/s3.py", "backupnimbus/adapters/health_checks.py")


@attrs.frozen
class Principal:
    key_id: str
    secret: str


@attrs.frozen
class EnforcingMoto:
    endpoint: str
    admin: Any  # an S3 client that may do anything, for the test's own checks
    admin_keys: Principal
    default: Principal  # the stack's policy with the default parameters
    retention: Principal  # ... with a retention rule set (RetentionKeepLast=1)


def backup_policy(overrides: dict[str, str]) -> dict[str, Any]:
    stack = Rendered({"BucketName": BUCKET, "BackupPrefix": PREFIX, **overrides})
    document: dict[str, Any] = stack.props("BackupAccessPolicy")["PolicyDocument"]
    return document


@pytest.fixture(scope="module")
def moto_iam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnforcingMoto]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto-iam") / "moto.log"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", str(FREE_REQUESTS))
        process = start_listening(
            "moto_server", [venv_script("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            port, log,
        )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        anyone = {"endpoint_url": endpoint, "region_name": REGION,
                  "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # fmt: skip
        boto3.client("s3", **anyone).create_bucket(Bucket=BUCKET)
        iam = boto3.client("iam", **anyone)

        def principal(name: str, document: dict[str, Any], *, inline: bool = False) -> Principal:
            iam.create_user(UserName=name)
            if inline:
                iam.put_user_policy(UserName=name, PolicyName=name,
                                    PolicyDocument=json.dumps(document))  # fmt: skip
            else:
                arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))
                iam.attach_user_policy(UserName=name, PolicyArn=arn["Policy"]["Arn"])
            key = iam.create_access_key(UserName=name)["AccessKey"]
            return Principal(key["AccessKeyId"], key["SecretAccessKey"])

        allow_all = {"Effect": "Allow", "Action": "*", "Resource": "*"}
        everything = {"Version": "2012-10-17", "Statement": [allow_all]}
        admin = principal("admin", everything, inline=True)
        default = principal("backup-default", backup_policy({}))
        retention = principal("backup-retention", backup_policy({"RetentionKeepLast": "1"}))
        admin_s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                                aws_access_key_id=admin.key_id,
                                aws_secret_access_key=admin.secret)  # fmt: skip
        yield EnforcingMoto(endpoint, admin_s3, admin, default, retention)
    finally:
        stop_process(process)


def env_for(
    moto: EnforcingMoto, who: Principal, endpoint: str, secantus: Secantus, mongo_tools: Path,
    database: str, tmp_path: Path,
) -> dict[str, str]:  # fmt: skip
    return {
        "MONGO_URI": b64(secantus.uri),
        "RESTORE_TARGET_URI": b64(secantus.uri),
        "AWS_S3_BUCKET_NAME": b64(BUCKET),
        "AWS_ACCESS_KEY_ID": b64(who.key_id),
        "AWS_SECRET_ACCESS_KEY": b64(who.secret),
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "BACKUP_PREFIX": PREFIX,
        "BACKUP_NAME": f"iam-{uuid.uuid4().hex[:8]}",
        "MONGODUMP_PATH": str(mongo_tools / "mongodump"),
        "MONGODUMP_NS_INCLUDE": f"{database}.*",
        "LOCAL_BACKUP_DIR": str(tmp_path / "unused"),
    }


@pytest.fixture
def seeded(secantus: Secantus, database: str) -> str:
    from pymongo import MongoClient

    MongoClient[dict[str, Any]](secantus.uri)[database].things.insert_many(
        {"n": n} for n in range(20)
    )
    return database


def ok(done: Any, what: str) -> None:
    assert done.returncode == 0, f"{what}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    assert "AccessDenied" not in done.stdout + done.stderr, what


def test_the_policy_is_enforced_here_so_a_missing_grant_would_show(moto_iam: EnforcingMoto) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_iam.endpoint, region_name=REGION,
                      aws_access_key_id=moto_iam.default.key_id,
                      aws_secret_access_key=moto_iam.default.secret)  # fmt: skip

    with pytest.raises(ClientError, match="AccessDenied"):
        s3.put_object(Bucket=BUCKET, Key="elsewhere/x", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}probe", Body=b"x")
    moto_iam.admin.delete_object(Bucket=BUCKET, Key=f"{PREFIX}probe")


def test_the_default_policy_allows_every_call_of_backup_faults_list_verify_restore_drill_check(
    moto_iam: EnforcingMoto, secantus: Secantus, mongo_tools: Path, seeded: str, tmp_path: Path
) -> None:
    def env(endpoint: str) -> dict[str, str]:
        return env_for(moto_iam, moto_iam.default, endpoint, secantus, mongo_tools, seeded,
                       tmp_path)  # fmt: skip

    base = env(moto_iam.endpoint)
    ok(run_cli(["run", "--json"], base), "backup")
    ok(run_cli(["list", "--json"], base), "list")
    ok(run_cli(["verify", "--latest"], base), "verify")
    ok(run_cli(["restore", "--latest", "--dry-run"], base), "restore --dry-run")
    # A drill reads the bucket only; its writes go to the drill target.
    ok(run_cli(["drill", "--json"], {**base, "DRILL_ALLOW_SOURCE": "true"}), "drill")
    ok(run_cli(["check"], base), "check")

    # The lost CreateMultipartUpload response: the recovery lists and aborts the stray upload.
    lost = Rule("CreateMultipartUpload", (Action.RESET,), calls=frozenset({1}), forward=True)
    proxy = FaultProxy(moto_iam.endpoint, [lost]).start()
    try:
        ok(run_cli(["run", "--json"], {**env(proxy.url), "BACKUP_NAME": "lost"}), "lost create")
    finally:
        proxy.stop()
    assert lost.total == 1

    # A manifest that cannot be written: the archive it would describe is deleted again.
    failing = Rule("PutObject", (Action.INTERNAL_ERROR,))
    proxy = FaultProxy(moto_iam.endpoint, [failing]).start()
    try:
        done = run_cli(["run", "--json"], {**env(proxy.url), "BACKUP_NAME": "nomanifest"})
    finally:
        proxy.stop()
    assert done.returncode == 1, done.stderr[-2000:]
    assert "AccessDenied" not in done.stdout + done.stderr
    listed = moto_iam.admin.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}nomanifest/")
    assert listed.get("Contents", []) == [], "the archive without a manifest was not deleted"
    uploads = moto_iam.admin.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert uploads == []


def test_the_retention_policy_allows_prune(
    moto_iam: EnforcingMoto, secantus: Secantus, mongo_tools: Path, seeded: str, tmp_path: Path
) -> None:
    env = env_for(moto_iam, moto_iam.retention, moto_iam.endpoint, secantus, mongo_tools,
                  seeded, tmp_path)  # fmt: skip
    ok(run_cli(["run", "--json", "--timestamp", "2025-01-01T00:00:00Z"], env), "first backup")
    ok(run_cli(["run", "--json", "--timestamp", "2025-01-02T00:00:00Z"], env), "second backup")

    pruned = run_cli(["prune", "--keep-last", "1", "--name", env["BACKUP_NAME"], "--json"], env)

    ok(pruned, "prune")
    listed = moto_iam.admin.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}{env['BACKUP_NAME']}/")
    assert len(listed.get("Contents", [])) == 2  # one archive and its manifest kept


def test_every_s3_action_granted_is_one_the_code_calls_and_every_call_is_granted() -> None:
    called: set[str] = set()
    for source in S3_CALLERS:
        for operation in re.findall(r"_client\.([a-z_0-9]+)\(", (REPO / source).read_text()):
            if operation in SES_OPERATIONS:
                continue
            assert operation in S3_ACTIONS, f"{source} calls {operation}: map it to its action"
            called.add(S3_ACTIONS[operation])
            called |= IMPLIED.get(S3_ACTIONS[operation], set())
    granted: set[str] = set()
    everything = {"RetentionKeepLast": "1", "ObjectLockMode": "GOVERNANCE"}
    for statement in backup_policy(everything)["Statement"]:
        granted |= {a for a in as_list(statement["Action"]) if a.startswith("s3:")}

    assert called - granted == set(), "the code calls what the policy does not grant"
    assert granted - called == set(), "the policy grants what the code never calls"


def test_references_rendered_by_the_template_are_read_under_its_policy_and_the_backup_runs(
    moto_iam: EnforcingMoto, secantus: Secantus, mongo_tools: Path, seeded: str, tmp_path: Path
) -> None:
    def admin(service: str) -> Any:
        return boto3.client(service, endpoint_url=moto_iam.endpoint, region_name=REGION,
                            aws_access_key_id=moto_iam.admin_keys.key_id,
                            aws_secret_access_key=moto_iam.admin_keys.secret)  # fmt: skip

    name = uuid.uuid4().hex[:8]
    secret = admin("secretsmanager").create_secret(
        Name=f"backupnimbus/{name}", SecretString=json.dumps({"uri": secantus.uri})
    )["ARN"]
    parameter = f"/backupnimbus/{name}/drill-uri"
    admin("ssm").put_parameter(Name=parameter, Value=secantus.uri, Type="SecureString")
    overrides = {"MongoUri": "", "MongoUriSecretArn": f"{secret}#uri",
                 "DrillTargetUriParameterName": parameter}  # fmt: skip
    stack = Rendered({"BucketName": BUCKET, "BackupPrefix": PREFIX, **overrides})
    rendered = stack.props("BackupFunction")["Environment"]["Variables"]
    document = backup_policy(overrides)
    reads = {s["Sid"]: s for s in document["Statement"]
             if as_list(s["Action"])[0].split(":")[0] in {"secretsmanager", "ssm"}}  # fmt: skip
    assert reads["ReadOnlyTheReferencedSecrets"]["Resource"] == [secret]
    assert reads["ReadOnlyTheReferencedParameters"]["Resource"] == [
        f"arn:aws:ssm:eu-west-1:123456789012:parameter{parameter}"  # the rendering's region
    ]
    # moto checks the action of a Secrets Manager or SSM request but asks for resource '*', which
    # no exact ARN matches; so here those two statements name '*'. Their exact resources are
    # asserted above and in tests/e2e/test_deploy_template.py.
    for statement in reads.values():
        statement["Resource"] = "*"
    iam = admin("iam")
    iam.create_user(UserName=f"backup-{name}")
    arn = iam.create_policy(PolicyName=f"backup-{name}", PolicyDocument=json.dumps(document))
    iam.attach_user_policy(UserName=f"backup-{name}", PolicyArn=arn["Policy"]["Arn"])
    key = iam.create_access_key(UserName=f"backup-{name}")["AccessKey"]
    who = Principal(key["AccessKeyId"], key["SecretAccessKey"])
    env = {
        **env_for(moto_iam, who, moto_iam.endpoint, secantus, mongo_tools, seeded, tmp_path),
        "MONGO_URI": rendered["MONGO_URI"],
        "DRILL_TARGET_URI": rendered["DRILL_TARGET_URI"],
        "AWS_ENDPOINT_URL_SECRETSMANAGER": moto_iam.endpoint,
        "AWS_ENDPOINT_URL_SSM": moto_iam.endpoint,
    }
    assert env["MONGO_URI"] == f"secretsmanager:{secret}#uri"
    assert env["DRILL_TARGET_URI"] == f"ssm:{parameter}"

    backed_up = run_cli(["run", "--json"], env)
    drilled = run_cli(["drill", "--json"], {**env, "DRILL_ALLOW_SOURCE": "true"})
    without_grant = run_cli(["run", "--json"], {
        **env, "AWS_ACCESS_KEY_ID": b64(moto_iam.default.key_id),
        "AWS_SECRET_ACCESS_KEY": b64(moto_iam.default.secret),
    })  # fmt: skip

    ok(backed_up, "backup with the URI from Secrets Manager")
    ok(drilled, "drill with the target URI from SSM")
    listed = moto_iam.admin.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}{env['BACKUP_NAME']}/")
    assert len(listed.get("Contents", [])) == 2  # the archive and its manifest
    # The stack's policy without reads is refused by IAM here: the grant above is what let it in.
    assert without_grant.returncode == 2, without_grant.stderr[-2000:]
    (problems,) = (json.loads(without_grant.stdout)["error"]["details"]["problems"],)
    assert [p.split(":")[0] for p in problems] == ["MONGO_URI", "DRILL_TARGET_URI"]
    assert all("could not be read: 403" in p for p in problems)  # moto's refusal has no code
    for done in (backed_up, drilled, without_grant):
        assert secantus.uri not in done.stdout + done.stderr
