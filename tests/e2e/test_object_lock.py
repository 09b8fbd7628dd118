"""Object Lock: every backup locked, prune that keeps what is locked and extends what it keeps.

Fakes for the use cases; moto S3 (a bucket created with Object Lock), the real mongodump and
SecantusDB end to end. What moto 5.2 does not enforce, and so is not tested here as if it did:
it lets a compliance lock be shortened, ignores the lock headers of CreateMultipartUpload (so
the archive's lock is set after the upload, and read back), does not check checksums (the
checksum header is read from the requests themselves), and answers GetObjectRetention with a
500 (locks are read with HeadObject, as on S3).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import MongoClient

from backupnimbus.adapters.compression import FastCompressor
from backupnimbus.adapters.env_secrets import Base64EnvSecrets
from backupnimbus.adapters.memory import FakeClock, FakeDumpRunner, InMemoryObjectStore
from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.adapters.s3 import S3ObjectStore
from backupnimbus.adapters.s3_parts import PartSizer
from backupnimbus.domain.keys import manifest_key
from backupnimbus.domain.list_backups import ListBackups
from backupnimbus.domain.manifest_codec import decode_manifest, encode_manifest
from backupnimbus.domain.models import BackupRequest, SourceInfo
from backupnimbus.domain.object_lock import Locking, LockPolicy
from backupnimbus.domain.prune_backups import PruneBackups
from backupnimbus.domain.retention import RetentionPolicy
from backupnimbus.domain.run_backup import BackupSettings, RunBackup
from backupnimbus.entrypoints.commands.prune import render
from backupnimbus.entrypoints.config import load_config
from backupnimbus.entrypoints.documents import prune_result_document
from backupnimbus.errors import ConfigInvalidError, StorageFailedError
from backupnimbus.ports.object_lock import COMPLIANCE, GOVERNANCE, Lock
from tests.support.cli import b64, run_cli
from tests.support.servers import Secantus

START = datetime(2025, 4, 7, 10, 15, 30, tzinfo=UTC)
MiB = 1024 * 1024


def _locking(store: InMemoryObjectStore, *, days: int = 7, max_days: int = 7) -> Locking:
    return Locking(policy=LockPolicy(mode=COMPLIANCE, days=days, max_days=max_days), locks=store)


def _backup(store: InMemoryObjectStore, clock: FakeClock, locking: Locking | None) -> Any:
    settings = BackupSettings(
        prefix="backups/", source=SourceInfo(hosts=("db.example:27017",)), tool_version="0.1.0"
    )
    use_case = RunBackup(
        compressor=FastCompressor(), dumps=FakeDumpRunner(), store=store, clock=clock,
        settings=settings, locking=locking,
    )  # fmt: skip
    return use_case.run(request=BackupRequest(name="mongodb"))


def _pruner(store: InMemoryObjectStore, clock: FakeClock, locking: Locking) -> PruneBackups:
    listing = ListBackups(store=store, prefix="backups/", locks=store)
    return PruneBackups(list_backups=listing, store=store, clock=clock, locking=locking)


# The lock policy


def test_a_kept_backup_is_extended_only_when_half_its_lock_is_gone_and_never_past_max() -> None:
    policy = LockPolicy(mode=GOVERNANCE, days=10, max_days=30)
    made = START
    fresh = Lock(GOVERNANCE, START + timedelta(days=10))
    assert policy.extension(current=fresh, made=made, now=START + timedelta(days=4)) is None
    later = START + timedelta(days=6)
    assert policy.extension(current=fresh, made=made, now=later) == Lock(
        GOVERNANCE, later + timedelta(days=10)
    )
    # Near the maximum, only up to made + max_days; past it, not at all.
    near = START + timedelta(days=27)
    assert policy.extension(current=None, made=made, now=near) == Lock(
        GOVERNANCE, START + timedelta(days=30)
    )
    assert policy.extension(current=None, made=made, now=START + timedelta(days=31)) is None
    # An existing compliance lock stays compliance.
    held = Lock(COMPLIANCE, START + timedelta(days=1))
    extended = policy.extension(current=held, made=made, now=START)
    assert extended is not None
    assert extended.mode == COMPLIANCE


def test_max_days_below_days_is_refused() -> None:
    with pytest.raises(ValueError, match="max_days"):
        LockPolicy(mode=GOVERNANCE, days=10, max_days=5)


# Configuration


def _config(**env: str) -> Any:
    return load_config(
        {"STORAGE_BACKEND": "local", **env}, secrets=Base64EnvSecrets({}), require_mongo=False
    )


def test_lock_settings_are_read_and_checked_all_at_once() -> None:
    config = _config(S3_OBJECT_LOCK_MODE="Compliance", S3_OBJECT_LOCK_DAYS="35")
    assert (config.object_lock_mode, config.object_lock_days) == (COMPLIANCE, 35)
    assert config.object_lock_max_days == 35  # no extension unless allowed
    with pytest.raises(ConfigInvalidError) as caught:
        _config(S3_OBJECT_LOCK_MODE="forever", S3_OBJECT_LOCK_DAYS="x")
    assert any("off, governance or compliance" in p for p in caught.value.problems)
    assert any("S3_OBJECT_LOCK_DAYS must be a whole number" in p for p in caught.value.problems)
    for env, expected in [
        ({"S3_OBJECT_LOCK_MODE": "governance"}, "S3_OBJECT_LOCK_DAYS is required"),
        ({"S3_OBJECT_LOCK_DAYS": "5"}, "apply only with S3_OBJECT_LOCK_MODE"),
        ({"S3_OBJECT_LOCK_MODE": "governance", "S3_OBJECT_LOCK_DAYS": "10",
          "S3_OBJECT_LOCK_MAX_DAYS": "5"}, "must be at least S3_OBJECT_LOCK_DAYS (10)"),
        ({"S3_OBJECT_LOCK_MODE": "compliance", "S3_OBJECT_LOCK_DAYS": "99999"}, "at most 36500"),
    ]:  # fmt: skip
        with pytest.raises(ConfigInvalidError, match=re.escape(expected)):
            _config(**env)
    assert _config(S3_OBJECT_LOCK_MODE="off").object_lock_mode is None


# RunBackup with fakes


def test_the_archive_and_the_manifest_are_locked_and_the_manifest_says_until_when() -> None:
    clock = FakeClock(current=START)
    store = InMemoryObjectStore(object_lock=True, clock=clock)
    result = _backup(store, clock, _locking(store, days=7))
    key = result.manifest.key
    lock = store.locks[key]
    assert lock.mode == COMPLIANCE
    assert START + timedelta(days=7) <= lock.retain_until <= START + timedelta(days=7, minutes=1)
    assert store.locks[manifest_key(key)] == lock
    stored = decode_manifest(store.objects[manifest_key(key)])
    assert stored.object_lock == lock
    with pytest.raises(StorageFailedError, match="locked"):
        store.delete(key=key)


def test_a_store_that_cannot_lock_is_a_config_error_before_anything_is_written() -> None:
    clock = FakeClock(current=START)
    store = InMemoryObjectStore(object_lock=False)
    with pytest.raises(ConfigInvalidError):
        _backup(store, clock, _locking(store))
    assert store.objects == {}


def test_a_lock_that_cannot_be_set_fails_the_run_and_leaves_no_backup() -> None:
    clock = FakeClock(current=START)
    store = InMemoryObjectStore(object_lock=True, clock=clock, fail_locks=1)
    with pytest.raises(StorageFailedError, match="refused the lock"):
        _backup(store, clock, _locking(store))
    assert store.objects == {}  # no manifest vouches for an unlocked archive


def test_a_manifest_written_before_locks_existed_still_reads() -> None:
    clock = FakeClock(current=START)
    store = InMemoryObjectStore()
    result = _backup(store, clock, None)
    document = json.loads(encode_manifest(result.manifest))
    assert document["object_lock"] is None
    del document["object_lock"]
    assert decode_manifest(json.dumps(document).encode()).object_lock is None


# PruneBackups with fakes


def _daily_backups(store: InMemoryObjectStore, clock: FakeClock, locking: Locking, n: int) -> None:
    for _ in range(n):
        _backup(store, clock, locking)
        clock.current += timedelta(days=1)


def test_prune_keeps_locked_backups_the_plan_would_delete_and_says_until_when() -> None:
    clock = FakeClock(current=START)
    store = InMemoryObjectStore(object_lock=True, clock=clock)
    locking = _locking(store, days=4)
    _daily_backups(store, clock, locking, 5)
    before = dict(store.objects)
    result = _pruner(store, clock, locking).run(policy=RetentionPolicy(last=1), name="mongodb")
    # Days 0 and 1 are unlocked by now (4-day locks, clock at day 5); days 2 and 3 are not.
    assert [gone.key for gone in result.deleted] == sorted(
        [k for k in before if k.endswith(".gz")], reverse=True
    )[3:]
    locked = [kept.key for kept in result.locked]
    assert len(locked) == 2
    assert all(kept.reasons[0].startswith("locked until 20") for kept in result.locked)
    assert all(key in store.objects and manifest_key(key) in store.objects for key in locked)
    text = render({**prune_result_document(result), "set": "mongodb"})
    assert "locked until" in text
    assert "still locked" in text


def test_prune_extends_kept_backups_locks_within_max_days_and_dry_run_only_shows_it() -> None:
    clock = FakeClock(current=START)
    store = InMemoryObjectStore(object_lock=True, clock=clock)
    locking = _locking(store, days=4, max_days=20)
    _daily_backups(store, clock, locking, 4)
    oldest = min(k for k in store.objects if k.endswith(".gz"))
    before = store.locks[oldest]
    policy = RetentionPolicy(daily=7)
    dry = _pruner(store, clock, locking).run(policy=policy, name="mongodb", dry_run=True)
    assert oldest in [item.key for item in dry.extended]
    assert store.locks[oldest] == before  # a dry run changes nothing
    assert "Would extend the lock" in render({**prune_result_document(dry), "set": "mongodb"})
    result = _pruner(store, clock, locking).run(policy=policy, name="mongodb")
    extended = {item.key: item.lock for item in result.extended}
    assert store.locks[oldest] == store.locks[manifest_key(oldest)] == extended[oldest]
    assert store.locks[oldest].retain_until > before.retain_until
    # Far in the future, no lock goes past 20 days after its backup finished.
    clock.current = START + timedelta(days=19)
    _pruner(store, clock, locking).run(policy=policy, name="mongodb")
    assert store.locks[oldest].retain_until <= START + timedelta(days=20, minutes=1)


# End to end: moto S3 with Object Lock, the real mongodump, SecantusDB


@pytest.fixture
def lock_bucket(s3: Any) -> str:
    name = f"locked-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def _seed(secantus: Secantus, database: str, docs: int = 5) -> None:
    MongoClient(secantus.uri)[database]["items"].insert_many(
        [{"n": n, "pad": "x" * 100} for n in range(docs)]
    )


def _locked_env(env: dict[str, str], bucket: str, database: str, **extra: str) -> dict[str, str]:
    return {
        **env,
        "AWS_S3_BUCKET_NAME": b64(bucket),
        "MONGODUMP_NS_INCLUDE": f"{database}.*",
        "S3_OBJECT_LOCK_MODE": "governance",
        "S3_OBJECT_LOCK_DAYS": "1",
        **extra,
    }


def _cli(args: list[str], env: dict[str, str], code: int = 0) -> dict[str, Any]:
    completed = run_cli([*args, "--json"], env)
    assert completed.returncode == code, completed.stdout + completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def _head_lock(s3: Any, bucket: str, key: str) -> tuple[str | None, datetime | None]:
    head = s3.head_object(Bucket=bucket, Key=key)
    return head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")


@pytest.mark.e2e
def test_a_backup_is_locked_and_the_role_cannot_delete_or_replace_it(
    secantus: Secantus, database: str, backup_env: dict[str, str], s3: Any, lock_bucket: str
) -> None:
    _seed(secantus, database)
    env = _locked_env(backup_env, lock_bucket, database)
    before = datetime.now(UTC)
    result = _cli(["run"], env)
    key, manifest = result["key"], result["manifest_key"]
    for stored in (key, manifest):  # the archive is a multipart upload, the manifest is not
        mode, until = _head_lock(s3, lock_bucket, stored)
        assert mode == "GOVERNANCE"
        assert until is not None
        assert until >= before + timedelta(days=1) - timedelta(seconds=1)
    assert result["manifest"]["object_lock"]["mode"] == "GOVERNANCE"
    assert result["lock"]["retain_until"] == result["manifest"]["object_lock"]["retain_until"]
    # The backup role (these keys) cannot delete the locked versions...
    for stored in (key, manifest):
        version = s3.head_object(Bucket=lock_bucket, Key=stored)["VersionId"]
        with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
            s3.delete_object(Bucket=lock_bucket, Key=stored, VersionId=version)
    # ...and overwriting makes a new version, while the locked one stays readable and intact.
    locked_version = s3.head_object(Bucket=lock_bucket, Key=key)["VersionId"]
    s3.put_object(Bucket=lock_bucket, Key=key, Body=b"ransom note")
    old = s3.get_object(Bucket=lock_bucket, Key=key, VersionId=locked_version)["Body"].read()
    assert hashlib.sha256(old).hexdigest() == result["sha256"]
    # The overwrite is noticed: the key's current version no longer matches its manifest.
    assert run_cli(["verify", key], env).returncode == 1


@pytest.mark.e2e
def test_list_and_verify_show_each_backups_lock(
    secantus: Secantus, database: str, backup_env: dict[str, str], lock_bucket: str
) -> None:
    _seed(secantus, database)
    env = _locked_env(backup_env, lock_bucket, database)
    made = _cli(["run"], env)
    listed = _cli(["list"], env)["backups"]
    assert [b["lock"] for b in listed] == [made["lock"]]
    assert "governance until" in run_cli(["list"], env).stdout
    verified = _cli(["verify", "--latest"], env)
    assert verified["lock"] == verified["manifest_lock"] == made["lock"]
    assert "lock      archive governance until" in run_cli(["verify", "--latest"], env).stdout


@pytest.mark.e2e
def test_prune_keeps_locked_backups_exits_0_and_extends_the_kept_ones(
    secantus: Secantus, database: str, backup_env: dict[str, str], s3: Any, lock_bucket: str
) -> None:
    _seed(secantus, database)
    env = _locked_env(backup_env, lock_bucket, database)
    stamps = ["2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z", "2025-01-03T00:00:00Z"]
    keys = [_cli(["run", "--timestamp", stamp], env)["key"] for stamp in stamps]
    # An operator raises the minimum to 10 days and allows extensions up to 30.
    raised = {**env, "S3_OBJECT_LOCK_DAYS": "10", "S3_OBJECT_LOCK_MAX_DAYS": "30"}
    dry = _cli(["prune", "--keep-last", "1", "--dry-run"], raised)
    assert dry["would_delete"] == []
    assert sorted(dry["locked"]) == sorted(keys[:2])
    assert [item["key"] for item in dry["would_extend"]] == [keys[2]]
    assert _head_lock(s3, lock_bucket, keys[2])[1] < datetime.now(UTC) + timedelta(days=2)
    pruned = _cli(["prune", "--keep-last", "1"], raised)
    assert pruned["deleted"] == []
    assert pruned["counts"]["locked"] == 2
    kept = {k["key"]: k for k in pruned["kept"]}
    assert all(kept[key]["reasons"][0].startswith("locked until ") for key in keys[:2])
    for stored in (keys[2], manifest_key(keys[2])):
        until = _head_lock(s3, lock_bucket, stored)[1]
        assert until is not None
        assert until > datetime.now(UTC) + timedelta(days=9)
    # Nothing was lost: every backup is still listed, complete.
    listed = _cli(["list"], env)["backups"]
    assert sorted(b["key"] for b in listed if b["complete"]) == sorted(keys)


@pytest.mark.e2e
def test_a_lock_mode_on_a_bucket_without_object_lock_is_a_config_error_before_any_write(
    secantus: Secantus, database: str, backup_env: dict[str, str], s3: Any, bucket: str
) -> None:
    _seed(secantus, database)
    env = _locked_env(backup_env, bucket, database)
    completed = run_cli(["run", "--json"], env)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "CONFIG_ERROR"
    assert "put-object-lock-configuration" in error["message"]
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    checked = run_cli(["check", "--json"], env)
    assert checked.returncode == 2, checked.stdout + checked.stderr
    lock_check = [c for c in json.loads(checked.stdout)["checks"] if c["name"] == "object lock"]
    assert lock_check[0]["ok"] is False
    assert lock_check[0]["code"] == "CONFIG_ERROR"


@pytest.mark.e2e
def test_check_reports_a_bucket_with_object_lock(
    secantus: Secantus, database: str, backup_env: dict[str, str], lock_bucket: str
) -> None:
    env = _locked_env(backup_env, lock_bucket, database)
    checked = _cli(["check"], env)
    lock_check = [c for c in checked["checks"] if c["name"] == "object lock"]
    assert lock_check[0]["ok"] is True
    assert "locked (governance) for 1 days" in lock_check[0]["detail"]


def test_a_lock_mode_with_the_local_store_is_a_config_error(tmp_path: Any) -> None:
    env = {"STORAGE_BACKEND": "local", "LOCAL_BACKUP_DIR": str(tmp_path),
           "S3_OBJECT_LOCK_MODE": "compliance", "S3_OBJECT_LOCK_DAYS": "3"}  # fmt: skip
    completed = run_cli(["list", "--json", "--all-sets"], env)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "the local store cannot" in json.loads(completed.stdout)["error"]["message"]


# The checksum S3 requires on every request that carries a lock


def test_every_request_that_carries_a_lock_carries_a_crc32_checksum(
    s3: Any, lock_bucket: str
) -> None:
    sent: list[tuple[str, dict[str, str]]] = []

    def record(request: Any, **_: Any) -> None:
        sent.append((request.url, {k.lower(): v for k, v in request.headers.items()}))

    s3.meta.events.register("before-send.s3", record)
    store = S3ObjectStore(
        client=s3, bucket=lock_bucket, retry=RetryPolicy(), part_sizer=PartSizer(5 * MiB)
    )
    lock = Lock(GOVERNANCE, datetime.now(UTC).replace(microsecond=0) + timedelta(days=1))

    class Data:
        def __init__(self) -> None:
            self.left = 11 * MiB

        def read(self, size: int, /) -> bytes:
            chunk = b"z" * min(size, self.left)
            self.left -= len(chunk)
            return chunk

    store.put_stream(key="k/archive", stream=Data())
    store.lock(key="k/archive", lock=lock)
    store.put_locked_bytes(key="k/manifest", data=b"{}", lock=lock)
    locking = [
        (url, headers)
        for url, headers in sent
        if "x-amz-object-lock-mode" in headers or url.endswith("?retention")
    ]
    assert len(locking) == 2, [url for url, _ in sent]
    for url, headers in locking:
        assert "x-amz-checksum-crc32" in headers or headers.get("x-amz-trailer") == (
            "x-amz-checksum-crc32"
        ), (url, sorted(headers))
    assert store.lock_of(key="k/archive") == lock == store.lock_of(key="k/manifest")
