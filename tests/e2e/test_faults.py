"""Fault injection, end to end: S3 faults through a fault proxy in front of moto, MongoDB faults
through SecantusDB fail points, SES unreachable, and runs racing for one key.

A backup under a fault must either finish correctly (the stored bytes match the manifest and
verify passes) or fail cleanly: a typed error, nothing at its key, no open multipart upload,
earlier backups untouched. Each test records its row of the fault matrix of
docs/reliability.md, from what it observed (tests/support/fault_matrix.py checks or writes it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import boto3
import pytest
from botocore.config import Config as BotoConfig

from backupnimbus.adapters.compression import FastCompressor
from backupnimbus.adapters.s3 import S3ObjectStore
from backupnimbus.adapters.s3_parts import PartSizer
from backupnimbus.domain.list_backups import ListBackups
from backupnimbus.domain.verify_backup import VerifyBackup, VerifyFromKey
from backupnimbus.entrypoints.arguments import iso_timestamp
from backupnimbus.entrypoints.container import bootstrap, config_from_environment
from backupnimbus.entrypoints.jobs import Jobs
from backupnimbus.entrypoints.lambda_events import Invocation
from backupnimbus.errors import BackupNimbusError
from tests.support.cli import REGION, run_cli
from tests.support.dump_wrappers import cut_mongodump
from tests.support.fault_db import FaultDb
from tests.support.fault_matrix import MATRIX, Row
from tests.support.fault_proxy import Action, FaultProxy, Rule
from tests.support.fault_scene import (
    AT,
    NO_WAIT,
    contents,
    lost_since,
    open_uploads,
    with_mail,
)
from tests.support.servers import free_port, venv_script
from tests.support.ses import moto_sent

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
EARLIER = "2025-04-06T10:15:30Z"
"""The timestamp of the good backup that a failing run must leave untouched."""
# RetryPolicy's defaults: 5 attempts, waits of 0.5, 1, 2 and 4 s, each plus up to 1 s of jitter.
RETRY_BUDGET_S = 0.5 + 1 + 2 + 4 + 4 * 1
# With this seed the 30% draws fail 4 of the 10 UploadPart calls a 6-part upload makes, so every
# kind of fault fires, and never 5 times in a row, which no part could survive.
SEED = 7


def key_of(name: str, at: str = AT, *, compressed: bool = False) -> str:
    stamp = iso_timestamp(at).strftime("%Y%m%dT%H%M%SZ")
    day = iso_timestamp(at).strftime("%Y/%m/%d")
    return f"backups/{name}/{day}/{name}-{stamp}.archive" + (".gz" if compressed else "")


def verify(s3: Any, bucket: str, key: str) -> Any:
    store = S3ObjectStore(client=s3, bucket=bucket, retry=NO_WAIT)
    return _verify_backup(store).run(request=VerifyFromKey(key=key))


def _verify_backup(store: Any) -> VerifyBackup:
    backups = ListBackups(store=store, prefix="backups/")
    return VerifyBackup(compressor=FastCompressor(), store=store, backups=backups)


def stored_loss(s3: Any, bucket: str, result: Mapping[str, Any]) -> int:
    """0 when the stored archive is what the run reported and its manifest vouches for, and
    verify passes; else the archive's size, as lost."""
    data = s3.get_object(Bucket=bucket, Key=result["key"])["Body"].read()
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=result["manifest_key"])["Body"].read())
    digest = hashlib.sha256(data).hexdigest()
    intact = (
        (digest, len(data))
        == (manifest["sha256"], manifest["size"])
        == (result["sha256"], result["size"])
    )
    report = verify(s3, bucket, result["key"])
    return 0 if intact and report.checked.sha256 == digest else result["size"]


def retries_logged(stderr: str, what: str) -> list[dict[str, Any]]:
    lines = []
    for line in stderr.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("message") == f"{what} failed, retrying":
            lines.append(record)
    return lines


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def injected_text(rules: list[Rule]) -> str:
    counts: dict[str, int] = {}
    for rule in rules:
        for action, count in rule.injected.items():
            counts[action.value] = counts.get(action.value, 0) + count
    return ", ".join(f"{count} x {name}" for name, count in sorted(counts.items()))


# S3 faults, in process: the real adapter, a client with a short read timeout, no back-off


@attrs.frozen
class Scene:
    s3: Any
    bucket: str
    key: str


@attrs.frozen
class S3Case:
    row: str
    fault: str
    expected: str
    rules: Callable[[Scene], list[Rule]]
    failure: str | None = None
    """The error code the run must fail with; None: it must succeed."""
    dataset: str = "blobs11"
    read_timeout: float = 60.0
    calls: Mapping[str, int] = attrs.Factory(dict)
    """Requests per operation the proxy must have seen, the faulted ones included."""
    resent: str | None = None
    """An operation whose every faulted request must be sent again, identical (same target,
    same body), and answered by S3: proof of a retry, where an ignored fault (or one retried
    with other bytes) would also end in a success."""


def _foreign_object(scene: Scene) -> Callable[[], None]:
    def put() -> None:
        scene.s3.put_object(Bucket=scene.bucket, Key=scene.key, Body=b"another writer's object")

    return put


S3_CASES = [
    S3Case(
        "s3-stalled-upload-part",
        "UploadPart: 2 calls stall past the client's 1.5 s read timeout",
        "retried; backup succeeds",
        lambda _: [Rule("UploadPart", (Action.STALL,), calls=frozenset({2, 3}), stall_s=4)],
        read_timeout=1.5,
        # The 11 MiB archive in 5 MiB parts: 3 parts, and the 2 stalled ones again.
        calls={"UploadPart": 3 + 2},
        resent="UploadPart",
    ),
    S3Case(
        "s3-abort-response-lost",
        "UploadPart: every call 503 SlowDown; AbortMultipartUpload: applied, response lost",
        "STORAGE_ERROR after 5 attempts; the retried abort finds the upload gone",
        lambda _: [
            Rule("UploadPart", (Action.SLOW_DOWN,)),
            Rule("AbortMultipartUpload", (Action.RESET,), calls=frozenset({1}), forward=True),
        ],
        failure="STORAGE_ERROR",
        dataset="tiny",
        calls={"UploadPart": 5, "AbortMultipartUpload": 2},
    ),
    S3Case(
        "s3-key-check-slowdown",
        "ListObjectsV2 (the key check): 503 SlowDown twice",
        "retried; backup succeeds",
        lambda _: [Rule("ListObjectsV2", (Action.SLOW_DOWN,), calls=frozenset({1, 2}))],
        # One key check (no retention prune is configured), tried 3 times.
        calls={"ListObjectsV2": 3},
        resent="ListObjectsV2",
    ),
    S3Case(
        "s3-create-response-lost",
        "CreateMultipartUpload: applied, response lost (reset)",
        "retried; the stray upload is aborted; backup succeeds",
        lambda _: [
            Rule("CreateMultipartUpload", (Action.RESET,), calls=frozenset({1}), forward=True)
        ],
        calls={"CreateMultipartUpload": 2, "ListMultipartUploads": 1, "AbortMultipartUpload": 1},
    ),
    S3Case(
        "s3-complete-500-once",
        "CompleteMultipartUpload: 500 InternalError once, not applied",
        "retried; backup succeeds",
        lambda _: [Rule("CompleteMultipartUpload", (Action.INTERNAL_ERROR,), calls=frozenset({1}))],
        calls={"CompleteMultipartUpload": 2},
        resent="CompleteMultipartUpload",
    ),
    S3Case(
        "s3-complete-response-lost",
        "CompleteMultipartUpload: applied, response lost; S3 answers the retry with the object",
        "retried; one object, no duplicate; backup succeeds",
        lambda _: [
            Rule("CompleteMultipartUpload", (Action.RESET,), calls=frozenset({1}), forward=True)
        ],
        calls={"CompleteMultipartUpload": 2},
    ),
    S3Case(
        "s3-complete-lost-then-nosuchupload",
        "CompleteMultipartUpload: applied, response lost; the retry gets 404 NoSuchUpload",
        "the object is checked (upload marker, ETag, size) and found to be ours; backup succeeds",
        lambda _: [
            Rule("CompleteMultipartUpload", (Action.RESET,), calls=frozenset({1}), forward=True),
            Rule("CompleteMultipartUpload", (Action.NO_SUCH_UPLOAD,), calls=frozenset({2})),
        ],
        calls={"CompleteMultipartUpload": 2, "HeadObject": 1},
    ),
    S3Case(
        "s3-complete-lost-then-precondition",
        "CompleteMultipartUpload: applied, response lost; the retry gets 412 PreconditionFailed",
        "the object is checked and found to be ours; backup succeeds",
        lambda _: [
            Rule("CompleteMultipartUpload", (Action.RESET,), calls=frozenset({1}), forward=True),
            Rule("CompleteMultipartUpload", (Action.PRECONDITION_FAILED,), calls=frozenset({2})),
        ],
        calls={"CompleteMultipartUpload": 2, "HeadObject": 1},
    ),
    S3Case(
        "s3-complete-foreign-object",
        "CompleteMultipartUpload: 500 while another writer stores a different object at the key",
        "ALREADY_EXISTS; the other object is kept; the upload is aborted",
        lambda scene: [
            Rule(
                "CompleteMultipartUpload",
                (Action.INTERNAL_ERROR,),
                calls=frozenset({1}),
                hook=_foreign_object(scene),
            ),
        ],
        failure="ALREADY_EXISTS",
        calls={"CompleteMultipartUpload": 2, "AbortMultipartUpload": 1},
    ),
    S3Case(
        "s3-manifest-response-lost",
        "PutObject (the manifest): applied, response lost; the retry gets 412",
        "the stored manifest is compared byte for byte and found to be ours; backup succeeds",
        lambda _: [Rule("PutObject", (Action.RESET,), calls=frozenset({1}), forward=True)],
        calls={"PutObject": 2},
    ),
]


def proxied_store(proxy: FaultProxy, bucket: str, *, read_timeout: float = 60.0) -> S3ObjectStore:
    tuning = BotoConfig(
        retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=read_timeout
    )
    client = boto3.client(
        "s3",
        endpoint_url=proxy.url,
        region_name=REGION,
        config=tuning,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return S3ObjectStore(client=client, bucket=bucket, retry=NO_WAIT, part_sizer=PartSizer(5 * MiB))


def backup_in_process(env: Mapping[str, str], store: Any = None, at: str = AT) -> dict[str, Any]:
    app = bootstrap(config_from_environment(env), retry=NO_WAIT, store=store)
    jobs = Jobs(config=app.config, container=app.container)
    return jobs.backup(Invocation(compress=False, timestamp=iso_timestamp(at)))


@pytest.mark.parametrize("case", S3_CASES, ids=lambda case: case.row)
def test_s3_fault(
    case: S3Case,
    faults: FaultProxy,
    env: dict[str, str],
    fault_db: FaultDb,
    s3: Any,
    bucket: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {**env, "MONGODUMP_NS_INCLUDE": f"{fault_db.dataset(case.dataset)}.*"}
    key = key_of("faults")
    rules = faults.set_rules(case.rules(Scene(s3=s3, bucket=bucket, key=key)))
    caplog.set_level(logging.WARNING, logger="backupnimbus")

    error: BackupNimbusError | None = None
    try:
        store = proxied_store(faults, bucket, read_timeout=case.read_timeout)
        result = backup_in_process(env, store)
    except BackupNimbusError as raised:
        error = raised

    injected = sum(rule.total for rule in rules)
    assert injected > 0, "the fault never fired"
    for operation, count in case.calls.items():
        assert faults.operations[operation] == count, operation
    assert open_uploads(s3, bucket) == 0
    retries = [r for r in caplog.records if r.getMessage().endswith("failed, retrying")]
    if case.resent is not None:
        resent = faults.resent(case.resent)
        assert len(resent) == injected
        assert all(retry is not None for _, retry in resent), "a faulted request never re-sent"
        assert [r.getMessage() for r in retries] == [f"{case.resent} failed, retrying"] * injected
    if case.failure is None:
        assert error is None, error.to_document() if error else None
        assert set(contents(s3, bucket)) == {key, key + ".manifest.json"}, "no duplicate"
        lost = stored_loss(s3, bucket, result)
        assert lost == 0
        logged = plural(len(retries), "retry", "retries")
        if case.read_timeout < 60:
            # A busy machine can slow other answers past a short read timeout, and they are
            # retried too: the document states the bound every run meets, never the count.
            assert len(retries) >= injected, "every stalled call was retried"
            logged = f"≥ {plural(injected, 'retry', 'retries')}"
        observed = f"succeeded; {logged} logged; stored sha256 = manifest; verify passed"
        outcome = {"survived": 1}
    else:
        assert error is not None, "the run must fail"
        assert error.code == case.failure
        after = contents(s3, bucket)
        assert key + ".manifest.json" not in after
        if case.row == "s3-complete-foreign-object":
            assert after == {key: (hashlib.sha256(b"another writer's object").hexdigest(), 23)}
        else:
            assert after == {}
        lost = 0
        observed = f"{error.code}; nothing stored by the run; upload aborted"
        outcome = {"failed_cleanly": 1}
    MATRIX.record(
        case.row,
        Row(
            fault=case.fault,
            injected=injected,
            expected=case.expected,
            observed=f"{observed} ({injected_text(rules)})",
            bytes_lost=lost,
            orphaned_uploads=open_uploads(s3, bucket),
            **outcome,
        ),
    )


def test_truncated_downloads_are_resumed_by_verify(
    faults: FaultProxy,
    env: dict[str, str],
    fault_db: FaultDb,
    s3: Any,
    bucket: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {**env, "MONGODUMP_NS_INCLUDE": f"{fault_db.dataset('blobs11')}.*"}
    result = backup_in_process(env)
    # The first GetObject reads the manifest, the second the archive: both are cut off half-way.
    rules = faults.set_rules([Rule("GetObject", (Action.TRUNCATE,), calls=frozenset({1, 2}))])
    caplog.set_level(logging.WARNING, logger="backupnimbus")

    report = _verify_backup(proxied_store(faults, bucket)).run(
        request=VerifyFromKey(key=result["key"])
    )

    assert rules[0].total == 2
    assert report.checked.sha256 == result["sha256"]
    assert report.checked.size == result["size"]
    resumed = [r for r in caplog.records if r.getMessage().startswith("GetObject's body broke")]
    assert len(resumed) == 2
    assert faults.operations["GetObject"] == 4, "two first reads and two ranged resumes"
    MATRIX.record(
        "s3-get-truncated",
        Row(
            fault="GetObject during verify: the body (manifest, then archive) cut off half-way",
            injected=rules[0].total,
            expected="the rest is fetched with a ranged GET; verify passes",
            observed=f"verify passed; {len(resumed)} resumes logged; sha256 = manifest",
            survived=1,
            orphaned_uploads=open_uploads(s3, bucket),
        ),
    )


# S3 faults through the command line, with the real retry policy


def test_transient_upload_part_faults_on_a_50_mb_backup(
    faults: FaultProxy,
    env: dict[str, str],
    fault_db: FaultDb,
    s3: Any,
    bucket: str,
    moto_endpoint: str,
) -> None:
    env = {**env, "MONGODUMP_NS_INCLUDE": f"{fault_db.dataset('blobs50')}.*"}
    actions = (Action.SLOW_DOWN, Action.INTERNAL_ERROR, Action.RESET)
    [rule] = faults.set_rules([Rule("UploadPart", actions, probability=0.3, seed=SEED)])

    completed = run_cli(["run", "--json", "--no-compress", "--timestamp", AT], env)

    assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]
    result = json.loads(completed.stdout)
    assert result["size"] >= 50_000_000
    assert set(rule.injected) == set(actions), "each kind of fault fired"
    retries = retries_logged(completed.stderr, "UploadPart")
    assert len(retries) == rule.total
    assert {r["error"] for r in retries} == {"ClientError", "ConnectionClosedError"}
    assert all(r["max_attempts"] == 5 for r in retries)
    parts = faults.answered[("UploadPart", 200)]
    assert parts == -(-result["size"] // PartSizer().initial)
    lost = stored_loss(s3, bucket, result)
    assert lost == 0
    # Straight to moto: the check must not meet a fault.
    verified = run_cli(
        ["verify", "--json", result["key"]], {**env, "AWS_ENDPOINT_URL_S3": moto_endpoint}
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr[-2000:]
    assert json.loads(verified.stdout)["sha256"] == result["sha256"]
    MATRIX.record(
        "s3-transient-upload-part",
        Row(
            fault="UploadPart: 503 SlowDown, 500 InternalError or connection reset on 30% of calls "
            f"(seed {SEED}), {result['size']:,}-byte backup through the CLI",
            injected=rule.total,
            expected="retried; backup succeeds; retries logged",
            observed=f"exit 0; {parts} parts in {rule.seen} UploadPart calls "
            f"({injected_text([rule])}); {len(retries)} retries logged; stored sha256 = "
            "manifest; `verify` passed",
            survived=1,
            bytes_lost=lost,
            orphaned_uploads=open_uploads(s3, bucket),
        ),
    )


def test_permanent_upload_part_faults_fail_within_the_retry_budget(
    faults: FaultProxy,
    env: dict[str, str],
    fault_db: FaultDb,
    s3: Any,
    bucket: str,
    ses_endpoint: str,
) -> None:
    env = with_mail(env, ses_endpoint, "permanent-s3")
    env["MONGODUMP_NS_INCLUDE"] = f"{fault_db.dataset('tiny')}.*"
    [rule] = faults.set_rules([Rule("UploadPart", (Action.SLOW_DOWN,))])

    started = time.monotonic()
    completed = run_cli(["run", "--json", "--timestamp", AT], env)
    elapsed = time.monotonic() - started

    assert completed.returncode == 1, completed.stderr[-3000:]
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "STORAGE_ERROR"
    assert (error["details"]["operation"], error["details"]["reason"]) == ("UploadPart", "SlowDown")
    assert error["details"]["notification"] == {"sent": True, "error": None}
    assert rule.total == 5, "RetryPolicy: 5 attempts, then give up"
    assert elapsed < RETRY_BUDGET_S + 15, f"took {elapsed:.1f} s"
    assert faults.operations["AbortMultipartUpload"] == 1
    assert open_uploads(s3, bucket) == 0
    assert contents(s3, bucket) == {}, "no object and no manifest"
    [mail] = moto_sent(ses_endpoint, "[BackupNimbus] Backup failed: permanent-s3")
    assert "STORAGE_ERROR" in mail.body
    assert "Traceback" not in completed.stderr
    MATRIX.record(
        "s3-permanent-upload-part",
        Row(
            fault="UploadPart: every call answers 503 SlowDown (CLI, real back-off)",
            injected=rule.total,
            expected=f"STORAGE_ERROR, exit 1, within the retry budget (≤ {RETRY_BUDGET_S:g} s of "
            "back-off); upload aborted; failure e-mail",
            observed=f"exit 1, STORAGE_ERROR after {rule.total} attempts; upload aborted; "
            "no object, no manifest; failure e-mail sent",
            failed_cleanly=1,
            orphaned_uploads=open_uploads(s3, bucket),
        ),
    )


# MongoDB faults mid-dump: earlier good backups must stay as they were


@attrs.frozen
class MongoCase:
    row: str
    fault: str
    expected: str
    mode: Any
    data: Mapping[str, Any]
    fails: bool


MONGO_CASES = [
    MongoCase(
        "mongo-find-connection-closed",
        "`find`: connection closed once (fail point)",
        "the driver retries the read; backup succeeds",
        {"times": 1},
        {"failCommands": ["find"], "closeConnection": True},
        fails=False,
    ),
    MongoCase(
        "mongo-getmore-connection-closed",
        "`getMore`: connection closed after the first batch (fail point)",
        "DUMP_ERROR, exit 1; nothing stored; failure e-mail; earlier backup untouched",
        {"times": 1},
        {"failCommands": ["getMore"], "closeConnection": True},
        fails=True,
    ),
    MongoCase(
        "mongo-getmore-error",
        "`getMore`: error 8 (UnknownError) after the first batch (fail point)",
        "DUMP_ERROR, exit 1; nothing stored; failure e-mail; earlier backup untouched",
        {"times": 1},
        {"failCommands": ["getMore"], "errorCode": 8},
        fails=True,
    ),
]


def earlier_backup(env: Mapping[str, str], s3: Any, bucket: str) -> dict[str, tuple[str, int]]:
    completed = run_cli(["run", "--json", "--timestamp", EARLIER], env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    before = contents(s3, bucket)
    assert len(before) == 2
    return before


@pytest.mark.parametrize("case", MONGO_CASES, ids=lambda case: case.row)
def test_mongodb_fault_mid_dump(
    case: MongoCase,
    faults: FaultProxy,
    env: dict[str, str],
    fault_db: FaultDb,
    s3: Any,
    bucket: str,
    ses_endpoint: str,
) -> None:
    name = case.row
    env = with_mail(env, ses_endpoint, name)
    env["MONGODUMP_NS_INCLUDE"] = f"{fault_db.dataset('blobs11')}.*"
    before = earlier_backup(env, s3, bucket)
    closed = fault_db.closed_connections()

    with fault_db.fail_point(mode=case.mode, data=case.data):
        completed = run_cli(["run", "--json", "--timestamp", AT], env)

    after = contents(s3, bucket)
    lost = lost_since(before, after)
    assert lost == 0, "an earlier backup changed"
    assert open_uploads(s3, bucket) == 0
    assert "Traceback" not in completed.stderr
    if "closeConnection" in case.data:
        injected = fault_db.closed_connections() - closed
    else:
        tail = json.loads(completed.stdout)["error"]["details"]["stderr_tail"]
        injected = sum("Failing command via 'failCommand' failpoint" in line for line in tail)
    assert injected == 1
    if not case.fails:
        assert completed.returncode == 0, completed.stderr[-3000:]
        result = json.loads(completed.stdout)
        assert stored_loss(s3, bucket, result) == 0
        assert result["manifest"]["namespaces"] == {"blobs11.blobs": 110}
        mails = moto_sent(ses_endpoint, f"[BackupNimbus] Backup succeeded: {name}")
        assert len(mails) == 2, "the earlier backup's and this one's"
        observed, outcome = "exit 0; all 110 documents; verify passed", {"survived": 1}
    else:
        assert completed.returncode == 1, completed.stderr[-3000:]
        error = json.loads(completed.stdout)["error"]
        assert error["code"] == "DUMP_ERROR"
        assert error["details"]["notification"] == {"sent": True, "error": None}
        assert after == before, "nothing stored by the failed run"
        [mail] = moto_sent(ses_endpoint, f"[BackupNimbus] Backup failed: {name}")
        assert "DUMP_ERROR" in mail.body
        observed = (
            f"exit 1, DUMP_ERROR ({error['message']}); nothing stored; failure e-mail "
            "sent; earlier backup byte-identical, verify passed"
        )
        outcome = {"failed_cleanly": 1}
    verify(s3, bucket, key_of(name, EARLIER, compressed=True))
    MATRIX.record(
        case.row,
        Row(
            fault=case.fault,
            injected=injected,
            expected=case.expected,
            observed=observed,
            bytes_lost=lost,
            orphaned_uploads=open_uploads(s3, bucket),
            **outcome,
        ),
    )


def test_mongodump_killed_mid_stream_leaves_earlier_backups_untouched(
    faults: FaultProxy,
    env: dict[str, str],
    fault_db: FaultDb,
    s3: Any,
    bucket: str,
    mongo_tools: Path,
    tmp_path: Path,
) -> None:
    # test_backup_failures.py proves the bucket is left empty; this adds an earlier backup.
    env = {
        **env,
        "MONGODUMP_NS_INCLUDE": f"{fault_db.dataset('blobs11')}.*",
        "BACKUP_NAME": "sigkill",
    }
    before = earlier_backup(env, s3, bucket)

    killer = cut_mongodump(tmp_path, mongo_tools, "kill -9 $$")
    completed = run_cli(["run", "--json", "--timestamp", AT], {**env, "MONGODUMP_PATH": killer})

    assert completed.returncode == 1, completed.stderr[-3000:]
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "DUMP_ERROR"
    assert error["message"] == "mongodump was killed by SIGKILL before it finished"
    assert faults.answered[("UploadPart", 200)] >= 1, "a part was uploaded before the kill"
    after = contents(s3, bucket)
    assert after == before
    assert open_uploads(s3, bucket) == 0
    verify(s3, bucket, key_of("sigkill", EARLIER, compressed=True))
    MATRIX.record(
        "mongodump-sigkill",
        Row(
            fault="mongodump killed by SIGKILL after 9 MiB, one part uploaded",
            injected=1,
            expected="DUMP_ERROR, exit 1; upload aborted; earlier backup untouched",
            observed="exit 1, DUMP_ERROR (killed by SIGKILL); nothing stored; earlier backup "
            "byte-identical, verify passed",
            failed_cleanly=1,
            bytes_lost=lost_since(before, after),
            orphaned_uploads=open_uploads(s3, bucket),
        ),
    )


# SES unreachable: the mail never decides the outcome


@pytest.fixture
def ses_down(env: dict[str, str], ses_endpoint: str) -> Callable[[str], dict[str, str]]:
    closed = f"http://127.0.0.1:{free_port()}"

    def make(name: str) -> dict[str, str]:
        return {**with_mail(env, ses_endpoint, name), "AWS_ENDPOINT_URL_SES": closed}

    return make


def test_ses_down_a_good_backup_is_still_a_success(
    faults: FaultProxy,
    ses_down: Callable[[str], dict[str, str]],
    fault_db: FaultDb,
    s3: Any,
    bucket: str,
) -> None:
    env = {**ses_down("ses-down-ok"), "MONGODUMP_NS_INCLUDE": f"{fault_db.dataset('tiny')}.*"}

    completed = run_cli(["run", "--json", "--timestamp", AT], env)

    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout)
    assert result["notification"]["sent"] is False
    assert "EndpointConnectionError" in result["notification"]["error"]
    refused = len(retries_logged(completed.stderr, "SES SendEmail")) + 1
    assert refused == 5
    lost = stored_loss(s3, bucket, result)
    assert lost == 0
    MATRIX.record(
        "ses-down-backup-ok",
        Row(
            fault="SES endpoint unreachable (connection refused) after a good backup",
            injected=refused,
            expected="exit 0, success; the notification failure recorded",
            observed=f'exit 0; backup verified; "notification": sent false after {refused} '
            "attempts (EndpointConnectionError)",
            survived=1,
            bytes_lost=lost,
            orphaned_uploads=open_uploads(s3, bucket),
        ),
    )


def test_ses_down_a_failed_backup_is_still_a_failure(
    faults: FaultProxy,
    ses_down: Callable[[str], dict[str, str]],
    fault_db: FaultDb,
    s3: Any,
    bucket: str,
) -> None:
    env = {
        **ses_down("ses-down-failed"),
        "MONGODUMP_NS_INCLUDE": f"{fault_db.dataset('blobs11')}.*",
    }

    with fault_db.fail_point(mode={"times": 1}, data={"failCommands": ["getMore"], "errorCode": 8}):
        completed = run_cli(["run", "--json", "--timestamp", AT], env)

    assert completed.returncode == 1, completed.stderr[-3000:]
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "DUMP_ERROR"
    assert error["details"]["notification"]["sent"] is False
    assert "EndpointConnectionError" in error["details"]["notification"]["error"]
    refused = len(retries_logged(completed.stderr, "SES SendEmail")) + 1
    assert refused == 5
    assert contents(s3, bucket) == {}
    assert open_uploads(s3, bucket) == 0
    MATRIX.record(
        "ses-down-backup-failed",
        Row(
            fault="SES endpoint unreachable, and `getMore` fails mid-dump (fail point)",
            injected=refused + 1,
            expected="exit 1, the dump's error; the notification failure recorded in its details",
            observed=f"exit 1, DUMP_ERROR; details.notification: sent false after {refused} "
            "attempts; nothing stored",
            failed_cleanly=1,
            orphaned_uploads=open_uploads(s3, bucket),
        ),
    )


# Runs racing for one key


def test_four_runs_with_one_timestamp_one_wins_the_others_fail_cleanly(
    faults: FaultProxy, env: dict[str, str], fault_db: FaultDb, s3: Any, bucket: str
) -> None:
    env = {**env, "MONGODUMP_NS_INCLUDE": f"{fault_db.dataset('blobs11')}.*"}
    faults.serialize("CompleteMultipartUpload", "PutObject")
    base = {"PATH": "/usr/bin:/bin", "HOME": "/root", **env}
    runs = [
        subprocess.Popen(
            [venv_script("backupnimbus"), "run", "--json", "--no-compress", "--timestamp", AT],
            env=base,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]

    codes = sorted(run.returncode for run in runs)
    assert codes == [0, 1, 1, 1], [err[-2000:] for _, err in outputs]
    documents = [json.loads(out) for out, _ in outputs]
    [winner] = [d for d in documents if "error" not in d]
    losers = [d["error"] for d in documents if "error" in d]
    assert {e["code"] for e in losers} == {"ALREADY_EXISTS"}
    key = key_of("faults")
    assert all(e["details"]["key"] == key for e in losers)
    assert faults.answered[("CompleteMultipartUpload", 200)] == 1, "exactly one write won"
    assert faults.answered[("PutObject", 200)] == 1, "exactly one manifest"
    assert set(contents(s3, bucket)) == {key, key + ".manifest.json"}
    assert open_uploads(s3, bucket) == 0
    lost = stored_loss(s3, bucket, winner)
    assert lost == 0
    assert all("Traceback" not in err for _, err in outputs)
    MATRIX.record(
        "concurrent-same-key",
        Row(
            fault="4 `backupnimbus run` started together with the same --timestamp",
            injected=4,
            expected="exactly one wins the key; the others fail with ALREADY_EXISTS; "
            "nothing overwritten",
            observed="1 exit 0; 3 exit 1, ALREADY_EXISTS; 1 archive and 1 manifest written, "
            "never replaced; verify passed",
            survived=1,
            failed_cleanly=3,
            bytes_lost=lost,
            orphaned_uploads=open_uploads(s3, bucket),
        ),
    )
