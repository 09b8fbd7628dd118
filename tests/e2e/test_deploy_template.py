"""deploy/template.yaml and the Dockerfile: the linters pass (and would catch a mistake), and the
template, rendered for real parameter values, deploys what docs/deploy.md promises."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml  # type: ignore[import-untyped]

from backupnimbus.adapters.env_secrets import Base64EnvSecrets
from backupnimbus.entrypoints.config import load_config
from tests.support.cfn_template import REQUIRED, TEMPLATE, Rendered, as_list
from tests.support.servers import REPO, venv_script

DOCKERFILE = REPO / "Dockerfile"

S3_ACTIONS_ALLOWED = {
    "s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject", "s3:ListBucket", "s3:DeleteObject",
    "s3:ListBucketMultipartUploads", "s3:PutObjectRetention", "s3:GetObjectRetention",
    "s3:GetBucketObjectLockConfiguration",
}  # fmt: skip
OBJECTS = "arn:aws:s3:::acme-mongo-backups/backups/*"
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:backupnimbus/prod-AbC123"
FROM_SECRET = {"MongoUri": "", "MongoUriSecretArn": f"{SECRET}#uri"}
FROM_PARAMETER = {"MongoUri": "", "MongoUriParameterName": "/backupnimbus/prod/mongo-uri"}


# --- the linters -------------------------------------------------------------------------------


def lint_commands() -> str:
    """The commands `make lint` would run, without running them."""
    shown = subprocess.run(
        ["make", "-n", "lint"], cwd=REPO, capture_output=True, text=True, check=True
    )
    return shown.stdout


def test_make_lint_runs_hadolint_and_cfn_lint_on_the_shipped_files() -> None:
    commands = lint_commands()

    assert re.search(r"hadolint\S* Dockerfile", commands)
    assert re.search(r"cfn-lint\S* .*deploy/template\.yaml", commands)


def test_cfn_lint_passes_on_the_template_and_fails_on_a_broken_reference(tmp_path: Path) -> None:
    clean = subprocess.run([venv_script("cfn-lint"), str(TEMPLATE)], capture_output=True, text=True)
    broken = tmp_path / "template.yaml"
    text = TEMPLATE.read_text()
    broken.write_text(text.replace("!GetAtt DeadLetterQueue.Arn", "!GetAtt DeadLetterQ.Arn", 1))
    caught = subprocess.run([venv_script("cfn-lint"), str(broken)], capture_output=True, text=True)

    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert caught.returncode != 0
    assert "DeadLetterQ" in caught.stdout


def test_hadolint_passes_on_the_dockerfile_and_fails_on_an_unpinned_base(tmp_path: Path) -> None:
    clean = subprocess.run(
        [venv_script("hadolint"), str(DOCKERFILE)], capture_output=True, text=True
    )
    unpinned = tmp_path / "Dockerfile"
    text = DOCKERFILE.read_text()
    unpinned.write_text(text.replace("FROM ${GO_IMAGE} ", "FROM golang ", 1))
    caught = subprocess.run(
        [venv_script("hadolint"), str(unpinned)], capture_output=True, text=True
    )

    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert caught.returncode != 0
    assert "DL3006" in caught.stdout
    # hadolint cannot see through a build argument, so the production defaults are held here.
    assert re.search(r"^ARG GO_IMAGE=golang:\d+\.\d+$", text, re.MULTILINE)
    assert re.search(r"^ARG LAMBDA_BASE_IMAGE=public\.ecr\.aws/lambda/python:\d+\.\d+$", text, re.M)


def test_the_image_build_context_leaves_secrets_and_the_virtualenv_out() -> None:
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    copied = {
        source
        for line in DOCKERFILE.read_text().splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
        if not source.startswith("--")
    }

    allowed = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    assert "*" in ignored  # deny by default, so a new file never leaks into an image
    assert copied <= allowed, copied - allowed
    assert not {".env", ".venv", "tests", "backups"} & allowed


def statements(rendered: Rendered) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement the stack creates, with the resource that holds it."""
    for name, body in rendered.of_type("AWS::IAM::ManagedPolicy").items():
        for statement in body["Properties"]["PolicyDocument"]["Statement"]:
            yield name, statement
    for name, body in rendered.of_type("AWS::IAM::Role").items():
        for policy in body["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement


def granted(rendered: Rendered, action: str) -> list[dict[str, Any]]:
    allowed = (s for _, s in statements(rendered) if s["Effect"] == "Allow")
    return [s for s in allowed if action in as_list(s["Action"])]


# --- what a user deploys -----------------------------------------------------------------------


def test_the_schedule_invokes_the_function_and_may_do_so() -> None:
    stack = Rendered({})

    rule = stack.props("BackupSchedule")
    permission = stack.props("BackupSchedulePermission")

    assert rule["ScheduleExpression"] == "cron(0 3 * * ? *)"  # daily by default
    assert rule["State"] == "ENABLED"
    assert [t["Arn"] for t in rule["Targets"]] == [{"Fn::GetAtt": ["BackupFunction", "Arn"]}]
    assert "Input" not in rule["Targets"][0]  # the handler receives the real Scheduled Event
    assert permission["FunctionName"] == {"Ref": "BackupFunction"}
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["BackupSchedule", "Arn"]}


def test_a_failed_invocation_lands_in_the_dead_letter_queue_and_alarms() -> None:
    stack = Rendered({})
    queue = {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}

    invoke = stack.props("BackupFunction")["EventInvokeConfig"]
    send = granted(stack, "sqs:SendMessage")
    alarm = stack.props("DeadLetterQueueAlarm")

    assert invoke["DestinationConfig"]["OnFailure"] == {"Type": "SQS", "Destination": queue}
    assert stack.resources["DeadLetterQueue"]["Type"] == "AWS::SQS::Queue"
    assert any(s["Resource"] == queue for s in send)  # the function role may deliver it
    assert stack.props("BackupSchedule")["Targets"][0]["DeadLetterConfig"]["Arn"] == queue
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}
    ]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"


def test_alarms_on_errors_and_on_no_success_for_26_hours_notify_the_topic() -> None:
    stack = Rendered({"AlarmEmail": "oncall@example.com"})

    errors = stack.props("FunctionErrorsAlarm")
    silence = stack.props("NoRecentSuccessAlarm")
    subscription = stack.props("AlarmEmailSubscription")

    assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "BackupFunction"}}]
    assert errors["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert (silence["Namespace"], silence["MetricName"]) == ("BackupNimbus", "BackupSuccess")
    assert silence["Dimensions"] == [{"Name": "BackupName", "Value": "mongodb"}]
    assert int(silence["Period"]) * int(silence["EvaluationPeriods"]) == 26 * 3600
    assert silence["DatapointsToAlarm"] == silence["EvaluationPeriods"]
    assert silence["TreatMissingData"] == "breaching"  # no backup at all must alarm too
    for alarm in stack.of_type("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert subscription["Endpoint"] == "oncall@example.com"
    # The topic policy replaces SNS's default one, so the alarms must be named in it.
    (publish,) = stack.props("AlarmTopicPolicy")["PolicyDocument"]["Statement"]
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Resource"] == {"Ref": "AlarmTopic"}


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"RetentionKeepDaily": "7", "KmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/abc-1"},
        {"NotificationSender": "backups@example.com", "NotificationRecipients": "a@example.com"},
        {"ScheduledRunner": "fargate", "FargateSubnetIds": "subnet-0123456789abcdef0"},
        {"BackupPrefix": "", "CreateBucket": "false", "RetentionKeepLast": "3"},
        {"DrillTargetUri": "mongodb://drill:pw@scratch.example.net/"},
        {"ObjectLockMode": "COMPLIANCE", "ObjectLockMaxDays": "400"},
    ],
)
def test_no_s3_permission_reaches_beyond_the_prefix(overrides: dict[str, str]) -> None:
    stack = Rendered(overrides)
    prefix = stack.params["BackupPrefix"]
    objects = f"arn:aws:s3:::acme-mongo-backups/{prefix}*"

    s3 = [
        (holder, s) for holder, s in statements(stack)
        if any(a.startswith("s3:") for a in as_list(s["Action"]))
    ]  # fmt: skip

    assert s3
    for holder, statement in s3:
        actions = set(as_list(statement["Action"]))
        resources = as_list(statement["Resource"])
        assert holder == "BackupAccessPolicy"
        assert actions <= S3_ACTIONS_ALLOWED, actions
        assert "*" not in resources
        bucket_wide = ({"s3:ListBucketMultipartUploads"}, {"s3:GetBucketObjectLockConfiguration"})
        if actions in bucket_wide:  # upload keys and IDs; whether the bucket can lock: no data
            assert resources == ["arn:aws:s3:::acme-mongo-backups"]
        elif actions == {"s3:ListBucket"}:
            assert resources == ["arn:aws:s3:::acme-mongo-backups"]
            assert statement["Condition"] == {"StringLike": {"s3:prefix": f"{prefix}*"}}
        else:
            assert resources == [objects]


def test_delete_is_granted_under_the_prefix_but_never_for_versions() -> None:
    # Needed without retention too: an archive whose manifest could not be written is removed
    # (tests/e2e/test_iam_policy.py runs that case under the policy).
    for stack in (Rendered({}), Rendered({"RetentionKeepWeekly": "4"})):
        deletes = granted(stack, "s3:DeleteObject")
        assert [d["Resource"] for d in deletes] == [OBJECTS]
        assert granted(stack, "s3:DeleteObjectVersion") == []  # versions stay recoverable


def test_mail_may_only_be_sent_as_the_sender_and_kms_only_with_the_key() -> None:
    quiet = Rendered({})
    key = "arn:aws:kms:eu-west-1:123456789012:key/abc-1"
    loud = Rendered(
        {
            "NotificationSender": "backups@example.com",
            "NotificationRecipients": "a@example.com,b@example.com",
            "KmsKeyArn": key,
        }
    )

    assert granted(quiet, "ses:SendEmail") == []
    assert not [s for _, s in statements(quiet) if str(s["Action"]).startswith("kms")]
    (mail,) = granted(loud, "ses:SendRawEmail")
    assert mail["Condition"] == {"StringEquals": {"ses:FromAddress": "backups@example.com"}}
    (kms,) = granted(loud, "kms:GenerateDataKey")
    assert kms["Resource"] == key
    assert "kms:Decrypt" in kms["Action"]  # S3 needs it to complete an SSE-KMS multipart upload


def test_the_created_bucket_is_private_versioned_tls_only_and_kms_encrypted() -> None:
    stack = Rendered({})

    bucket = stack.props("BackupBucket")
    (statement,) = stack.props("BackupBucketPolicy")["PolicyDocument"]["Statement"]
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]

    assert bucket["BucketName"] == "acme-mongo-backups"
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True,
        "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }  # fmt: skip
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms"}
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Deny", "*", "s3:*",
    )  # fmt: skip
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [
        {"Fn::GetAtt": ["BackupBucket", "Arn"]},
        "${BackupBucket.Arn}/*",
    ]
    assert "ObjectLockConfiguration" not in bucket
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "Transitions" not in rule
    assert stack.resources["BackupBucket"]["DeletionPolicy"] == "Retain"


def test_object_lock_and_glacier_transition_are_options_of_the_created_bucket() -> None:
    key = "arn:aws:kms:eu-west-1:123456789012:key/k"
    stack = Rendered(
        {"ObjectLockMode": "COMPLIANCE", "ObjectLockDays": "35", "TransitionDays": "30",
         "KmsKeyArn": key}
    )  # fmt: skip
    existing = Rendered({"CreateBucket": "false", "ObjectLockMode": "COMPLIANCE"})

    bucket = stack.props("BackupBucket")
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]

    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {
        "Mode": "COMPLIANCE", "Days": "35"
    }  # fmt: skip
    assert rule["Transitions"] == [{"StorageClass": "GLACIER_IR", "TransitionInDays": "30"}]
    assert encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"].endswith("key/k")
    assert "BackupBucket" not in existing.resources
    assert "BackupBucketPolicy" not in existing.resources


def test_locked_backups_get_the_lock_settings_and_the_grants_but_never_a_bypass() -> None:
    unlocked = Rendered({})
    locked = Rendered({"ObjectLockMode": "GOVERNANCE", "ObjectLockDays": "35",
                       "ObjectLockMaxDays": "400"})  # fmt: skip
    existing = Rendered({"CreateBucket": "false", "ObjectLockMode": "COMPLIANCE"})

    assert granted(unlocked, "s3:PutObjectRetention") == []
    assert not {"S3_OBJECT_LOCK_MODE", "S3_OBJECT_LOCK_DAYS"} & set(lambda_environment(unlocked))
    for stack in (locked, existing):
        (retention,) = granted(stack, "s3:PutObjectRetention")
        assert retention["Resource"] == OBJECTS
        assert "s3:GetObjectRetention" in retention["Action"]
        assert granted(stack, "s3:GetBucketObjectLockConfiguration")
        for forbidden in ("s3:BypassGovernanceRetention", "s3:PutBucketObjectLockConfiguration",
                          "s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration"):  # fmt: skip
            assert granted(stack, forbidden) == [], forbidden
            assert not [st for _, st in statements(stack) if st["Action"] in ("s3:*", "*")]
    environ = lambda_environment(locked)
    assert (environ["S3_OBJECT_LOCK_MODE"], environ["S3_OBJECT_LOCK_DAYS"]) == ("GOVERNANCE", "35")
    assert environ["S3_OBJECT_LOCK_MAX_DAYS"] == "400"
    assert task_environment(Rendered({"ObjectLockMode": "GOVERNANCE", "ScheduledRunner": "fargate",
                                      "FargateSubnetIds": "subnet-0123456789abcdef0"}))[
        "S3_OBJECT_LOCK_MODE"] == "GOVERNANCE"  # fmt: skip
    assert "S3_OBJECT_LOCK_MAX_DAYS" not in lambda_environment(existing)  # 0: no extension
    config = load_config(
        {**environ, "AWS_LAMBDA_FUNCTION_NAME": "f"}, secrets=Base64EnvSecrets(environ)
    )
    assert (config.object_lock_mode, config.object_lock_days) == ("GOVERNANCE", 35)
    assert config.object_lock_max_days == 400


def lambda_environment(stack: Rendered) -> dict[str, str]:
    return dict(stack.props("BackupFunction")["Environment"]["Variables"])


def task_environment(stack: Rendered) -> dict[str, str]:
    (container,) = stack.props("TaskDefinition")["ContainerDefinitions"]
    return {pair["Name"]: pair["Value"] for pair in container["Environment"]}


def test_the_function_environment_is_a_valid_configuration_of_the_tool() -> None:
    stack = Rendered(
        {
            "RetentionKeepDaily": "7",
            "NotificationSender": "backups@example.com",
            "NotificationRecipients": "a@example.com,b@example.com",
            "BackupPrefix": "prod/mongo/",
            "BackupName": "shop",
        }
    )
    # Inside Lambda the runtime adds these, plain, never base64.
    environ = {
        **lambda_environment(stack),
        "AWS_LAMBDA_FUNCTION_NAME": "backupnimbus",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "plain-secret",
        "AWS_SESSION_TOKEN": "token",
    }

    config = load_config(environ, secrets=Base64EnvSecrets(environ))

    assert config.mongo_uri == REQUIRED["MongoUri"]
    assert config.bucket == "acme-mongo-backups"
    assert (config.backup_prefix, config.backup_name) == ("prod/mongo/", "shop")
    assert config.notifications.enabled
    assert config.notifications.sender == "backups@example.com"
    assert config.notifications.recipients == ("a@example.com", "b@example.com")
    assert config.retention.daily == 7
    assert config.aws_secret_access_key == "plain-secret"
    assert "AWS_REGION" not in lambda_environment(stack)  # reserved: Lambda would refuse it


def test_optional_settings_are_left_out_rather_than_set_empty() -> None:
    environ = lambda_environment(Rendered({}))

    assert "" not in environ.values()
    assert not {"NOTIFICATION_SENDER_EMAIL", "AGE_RECIPIENTS", "S3_SSE", "S3_KMS_KEY_ID"} & set(
        environ
    )
    assert environ["NOTIFICATIONS_ENABLED"] == "false"
    load_config(
        {**environ, "AWS_LAMBDA_FUNCTION_NAME": "f"}, secrets=Base64EnvSecrets(environ)
    )  # no ConfigInvalidError


def test_encryption_settings_reach_the_environment() -> None:
    key = "arn:aws:kms:eu-west-1:123456789012:key/abc-1"
    recipients = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"

    environ = lambda_environment(Rendered({"KmsKeyArn": key, "AgeRecipients": recipients}))

    assert (environ["S3_SSE"], environ["S3_KMS_KEY_ID"]) == ("aws:kms", key)
    assert environ["AGE_RECIPIENTS"] == recipients


def test_fargate_runs_the_same_image_with_the_cli_the_same_policy_and_environment() -> None:
    stack = Rendered(
        {
            "ScheduledRunner": "fargate",
            "FargateSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
            "RetentionKeepLast": "10",
            "Architecture": "arm64",
        }
    )

    task = stack.props("TaskDefinition")
    (container,) = task["ContainerDefinitions"]
    schedule = stack.props("FargateSchedule")
    ecs = schedule["Target"]["EcsParameters"]
    task_env = task_environment(stack)
    config = load_config(task_env, secrets=Base64EnvSecrets(task_env))

    assert "BackupSchedule" not in stack.resources  # one scheduled runner, not two backups
    assert container["Image"] == REQUIRED["ImageUri"]
    assert container["Command"] == ["run"]
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
    assert stack.props("BackupFunction")["Architectures"] == ["arm64"]
    assert "EphemeralStorage" not in task  # streaming: the default task storage is plenty
    assert stack.props("TaskRole")["ManagedPolicyArns"] == [{"Ref": "BackupAccessPolicy"}]
    assert stack.props("FunctionRole")["ManagedPolicyArns"] == [{"Ref": "BackupAccessPolicy"}]
    assert schedule["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": ["Cluster", "Arn"]}
    assert ecs["TaskDefinitionArn"] == {"Ref": "TaskDefinition"}
    assert ecs["LaunchType"] == "FARGATE"
    assert ecs["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"] == [
        "subnet-0123456789abcdef0", "subnet-0123456789abcdef1"
    ]  # fmt: skip
    assert {k: v for k, v in task_env.items() if k != "AWS_REGION"} == lambda_environment(stack)
    assert config.retention.last == 10
    assert not config.in_lambda
    failure = stack.props("FargateFailureRule")
    assert failure["Targets"][0]["Arn"] == {"Ref": "AlarmTopic"}
    assert failure["EventPattern"]["detail"]["lastStatus"] == ["STOPPED"]
    publishers = stack.props("AlarmTopicPolicy")["PolicyDocument"]["Statement"]
    assert {"Service": "events.amazonaws.com"} in [p["Principal"] for p in publishers]


def test_the_execution_role_may_pull_only_the_images_repository() -> None:
    stack = Rendered({"ScheduledRunner": "fargate", "FargateSubnetIds": "subnet-0123456789abcdef0"})

    pulls = granted(stack, "ecr:BatchGetImage")

    assert [p["Resource"] for p in pulls] == [
        "arn:aws:ecr:eu-west-1:123456789012:repository/backupnimbus"
    ]


def test_docs_walk_through_every_parameter_without_a_default() -> None:
    docs = (REPO / "docs" / "deploy.md").read_text()
    template = cfn_yaml.load(str(TEMPLATE))

    required = [n for n, spec in template["Parameters"].items() if "Default" not in spec]
    sources = ["MongoUriSecretArn", "MongoUriParameterName", "MongoUri"]  # exactly one of them

    assert sorted(required) == sorted(set(REQUIRED) - {"MongoUri"})
    for name in required + sources:
        assert name in docs


def test_a_drill_target_brings_a_weekly_drill_schedule_and_an_alarm_on_its_silence() -> None:
    import json

    from backupnimbus.entrypoints.lambda_events import parse_event

    without = Rendered({})
    stack = Rendered({"DrillTargetUri": "mongodb://drill:pw@scratch.example.net/"})

    assert not {"DrillSchedule", "NoRecentDrillAlarm"} & set(without.resources)
    assert "DRILL_TARGET_URI" not in lambda_environment(without)
    rule = stack.props("DrillSchedule")
    (target,) = rule["Targets"]
    assert rule["ScheduleExpression"] == "cron(0 5 ? * SUN *)"  # weekly
    assert target["Arn"] == {"Fn::GetAtt": ["BackupFunction", "Arn"]}
    assert parse_event(json.loads(target["Input"])).action == "drill"
    assert stack.props("DrillSchedulePermission")["SourceArn"] == {
        "Fn::GetAtt": ["DrillSchedule", "Arn"]
    }
    alarm = stack.props("NoRecentDrillAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("BackupNimbus", "RestoreDrillSucceeded")
    assert alarm["Dimensions"] == [{"Name": "BackupName", "Value": "mongodb"}]
    assert alarm["TreatMissingData"] == "breaching"  # no drill at all must alarm too
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    window = int(alarm["Period"]) * int(alarm["EvaluationPeriods"])
    assert window == 7 * 86400  # CloudWatch's longest; with the partial current day, 8 days
    assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]
    environ = {**lambda_environment(stack), "AWS_LAMBDA_FUNCTION_NAME": "f"}
    config = load_config(environ, secrets=Base64EnvSecrets(environ))
    assert config.drill_target_uri == "mongodb://drill:pw@scratch.example.net/"
    # The drill needs nothing the backup did not: the role's statements are the same.
    assert list(statements(stack)) == list(statements(without))


# --- secrets kept out of the deployment --------------------------------------------------------


def test_exactly_one_source_uri_and_at_most_one_drill_target_are_accepted() -> None:
    parameter = FROM_PARAMETER["MongoUriParameterName"]
    drill_parameter = {"DrillTargetUriParameterName": "/backupnimbus/prod/drill-uri"}

    for accepted in ({}, FROM_SECRET, FROM_PARAMETER, {**FROM_SECRET, **drill_parameter}):
        assert Rendered(accepted).rejected == [], accepted
    (none,) = Rendered({"MongoUri": ""}).rejected
    (two,) = Rendered({**FROM_SECRET, "MongoUriParameterName": parameter}).rejected
    (plain_too,) = Rendered({"MongoUriSecretArn": SECRET}).rejected  # MongoUri is set as well
    (drills,) = Rendered(
        {**drill_parameter, "DrillTargetUri": "mongodb://drill:pw@scratch.example.net/"}
    ).rejected
    assert none == two == plain_too
    assert "exactly one of MongoUriSecretArn, MongoUriParameterName and MongoUri" in none
    assert "at most one of DrillTargetUriSecretArn" in drills


@pytest.mark.parametrize(
    ("overrides", "mongo_uri", "drill_uri"),
    [
        ({**FROM_SECRET, "DrillTargetUriSecretArn": f"{SECRET}#drill"},
         f"secretsmanager:{SECRET}#uri", f"secretsmanager:{SECRET}#drill"),
        ({**FROM_PARAMETER, "DrillTargetUriParameterName": "/backupnimbus/prod/drill-uri"},
         "ssm:/backupnimbus/prod/mongo-uri", "ssm:/backupnimbus/prod/drill-uri"),
    ],
)  # fmt: skip
def test_with_references_no_uri_reaches_the_function_or_the_task_definition(
    overrides: dict[str, str], mongo_uri: str, drill_uri: str
) -> None:
    fargate = {"ScheduledRunner": "fargate", "FargateSubnetIds": "subnet-0123456789abcdef0"}
    stack = Rendered({**overrides, **fargate})
    shown = json.dumps([stack.props("BackupFunction"), stack.props("TaskDefinition")])

    assert lambda_environment(stack)["MONGO_URI"] == mongo_uri
    assert lambda_environment(stack)["DRILL_TARGET_URI"] == drill_uri
    assert task_environment(stack)["MONGO_URI"] == mongo_uri
    assert "DrillSchedule" in stack.resources  # a drill target by reference turns drills on
    # What lambda:GetFunctionConfiguration and ecs:DescribeTaskDefinition would show.
    assert "mongodb://" not in shown
    assert "mongodb+srv://" not in shown
    for value in (REQUIRED["MongoUri"], "s3cret"):
        assert value not in shown
        assert base64.b64encode(value.encode()).decode() not in shown
    plain = Rendered(fargate)  # the least safe form: only base64 stands between
    assert (
        lambda_environment(plain)["MONGO_URI"]
        == base64.b64encode(REQUIRED["MongoUri"].encode()).decode()
    )


def test_the_roles_may_read_exactly_the_referenced_secrets_and_nothing_else() -> None:
    drill = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:backupnimbus/drill-XyZ789"
    key = "arn:aws:kms:eu-west-1:123456789012:key/1111aaaa-22bb"
    secrets = Rendered({**FROM_SECRET, "DrillTargetUriSecretArn": drill, "SecretsKmsKeyArn": key,
                        "ScheduledRunner": "fargate",
                        "FargateSubnetIds": "subnet-0123456789abcdef0"})  # fmt: skip
    parameter = Rendered(FROM_PARAMETER)
    plain = Rendered({"SecretsKmsKeyArn": key})

    (read,) = granted(secrets, "secretsmanager:GetSecretValue")
    assert read["Resource"] == [SECRET, drill]  # without '#uri': IAM knows no JSON keys
    (get,) = granted(parameter, "ssm:GetParameter")
    assert get["Resource"] == [
        "arn:aws:ssm:eu-west-1:123456789012:parameter/backupnimbus/prod/mongo-uri"
    ]
    assert granted(secrets, "ssm:GetParameter") == granted(parameter, "kms:Decrypt") == []
    (decrypt,) = [s for s in granted(secrets, "kms:Decrypt") if s["Resource"] == key]
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": [
        "secretsmanager.eu-west-1.amazonaws.com", "ssm.eu-west-1.amazonaws.com"]}}  # fmt: skip
    for stack in (secrets, parameter, plain):
        reads = [
            (holder, s) for holder, s in statements(stack)
            if any(a.split(":")[0] in {"secretsmanager", "ssm", "kms"}
                   for a in as_list(s["Action"]))
        ]  # fmt: skip
        for holder, statement in reads:
            assert holder == "BackupAccessPolicy"  # the execution role never sees a secret
            assert as_list(statement["Action"]) in (
                ["secretsmanager:GetSecretValue"],
                ["ssm:GetParameter"],
                ["kms:Decrypt"],
            )
            assert "*" not in "".join(as_list(statement["Resource"]))
    assert not granted(plain, "secretsmanager:GetSecretValue") + granted(plain, "kms:Decrypt")


def test_the_uris_are_noecho_and_the_references_are_not() -> None:
    declared = cfn_yaml.load(str(TEMPLATE))["Parameters"]

    assert declared["MongoUri"]["NoEcho"] is True
    assert declared["DrillTargetUri"]["NoEcho"] is True
    assert "least safe" in declared["MongoUri"]["Description"].lower()
    for name in ("MongoUriSecretArn", "MongoUriParameterName", "DrillTargetUriSecretArn",
                 "DrillTargetUriParameterName"):  # fmt: skip
        assert "NoEcho" not in declared[name]  # names, not secrets: readable in the console
