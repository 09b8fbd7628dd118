"""PruneBackups with fakes, and `backupnimbus prune` end to end on moto S3."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from backupnimbus.adapters.memory import FakeClock, InMemoryObjectStore
from backupnimbus.domain.keys import archive_key, manifest_key
from backupnimbus.domain.list_backups import ListBackups
from backupnimbus.domain.manifest_codec import encode_manifest
from backupnimbus.domain.models import Manifest, SourceInfo
from backupnimbus.domain.prune_backups import PruneBackups, PruneResult
from backupnimbus.domain.retention import RetentionPolicy
from backupnimbus.errors import StorageFailedError, UsageInvalidError
from backupnimbus.ports.object_store import StoredObject
from tests.conftest import REGION, b64, run_cli
from tests.test_retention import oracle

PREFIX = "backups/"
NOW = datetime(2025, 4, 7, 10, 15, 30, tzinfo=UTC)


def _manifest(key: str, name: str, at: datetime) -> bytes:
    return encode_manifest(
        Manifest(
            name=name, key=key, size=len(key), sha256="0" * 64, compressed=True,
            encrypted=False, started_at=at, finished_at=at + timedelta(seconds=42),
            mongodump_version="100.10.0", tool_version="0.1.0",
            source=SourceInfo(hosts=("db.example:27017",)),
        )
    )  # fmt: skip


@attrs.define
class AgedStore(InMemoryObjectStore):
    """The in-memory store, with a write time per key and a log of deletes in order."""

    written_at: dict[str, datetime] = attrs.Factory(dict)
    deletes: list[str] = attrs.Factory(list)
    refuse_delete: str | None = None
    """Fail deleting keys ending in this, as a store that goes away mid-run would."""

    def list_objects(self, *, prefix: str) -> Iterator[StoredObject]:
        for obj in super().list_objects(prefix=prefix):
            yield attrs.evolve(obj, modified_at=self.written_at[obj.key])

    def delete(self, *, key: str) -> None:
        if self.refuse_delete is not None and key.endswith(self.refuse_delete):
            raise StorageFailedError("fake store refused the delete", details={"key": key})
        self.deletes.append(key)
        super().delete(key=key)

    def add(self, name: str, at: datetime, *, complete: bool = True) -> str:
        """Stores a backup whose objects were written at `at`; returns the archive key."""
        key = archive_key(prefix=PREFIX, name=name, at=at, compressed=True)
        self.objects[key] = b"archive " + key.encode()
        self.written_at[key] = at
        if complete:
            self.objects[manifest_key(key)] = _manifest(key, name, at)
            self.written_at[manifest_key(key)] = at
        return key


def _prune(store: AgedStore, clock: FakeClock | None = None) -> PruneBackups:
    return PruneBackups(
        list_backups=ListBackups(store=store, prefix=PREFIX), store=store,
        clock=clock or FakeClock(current=NOW),
    )  # fmt: skip


def _kept(result: PruneResult) -> dict[str, tuple[str, ...]]:
    return {kept.key: kept.reasons for kept in result.kept}


def _days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def test_forgotten_backups_lose_archive_and_manifest_and_the_rest_stays() -> None:
    store = AgedStore()
    keys = [store.add("mongodb", _days_ago(day)) for day in range(10)]  # keys[0] is newest

    result = _prune(store).run(policy=RetentionPolicy(daily=3))

    assert _kept(result) == {keys[0]: ("daily #1",), keys[1]: ("daily #2",),
                             keys[2]: ("daily #3",)}  # fmt: skip
    assert [gone.key for gone in result.deleted] == keys[3:]
    assert {gone.reason for gone in result.deleted} == {"kept by no rule"}
    assert set(store.objects) == {k for key in keys[:3] for k in (key, manifest_key(key))}


def test_each_manifest_is_deleted_before_its_archive() -> None:
    store = AgedStore()
    keys = [store.add("mongodb", _days_ago(day)) for day in range(4)]

    _prune(store).run(policy=RetentionPolicy(last=1))

    assert store.deletes == [k for key in keys[1:] for k in (manifest_key(key), key)]


def test_a_run_dying_between_the_two_deletes_leaves_an_incomplete_archive_later_removed() -> None:
    store = AgedStore(refuse_delete=".archive.gz")
    keys = [store.add("mongodb", _days_ago(day)) for day in (0, 2, 4)]

    with pytest.raises(StorageFailedError):
        _prune(store).run(policy=RetentionPolicy(last=1))

    survivors = {r.key: r.complete for r in ListBackups(store=store, prefix=PREFIX).run()}
    assert survivors == {keys[0]: True, keys[1]: False, keys[2]: True}
    store.refuse_delete = None
    second = _prune(store).run(policy=RetentionPolicy(last=1))
    assert {gone.key: gone.reason for gone in second.deleted} == {
        keys[1]: "incomplete, older than 24 h",
        keys[2]: "kept by no rule",
    }
    assert set(store.objects) == {keys[0], manifest_key(keys[0])}


def test_incomplete_archives_go_only_after_24_hours_and_never_count_for_the_policy() -> None:
    store = AgedStore()
    complete = store.add("mongodb", _days_ago(2))
    older_complete = store.add("mongodb", _days_ago(3))
    running = store.add("mongodb", NOW - timedelta(hours=23), complete=False)
    stale = store.add("mongodb", NOW - timedelta(hours=25), complete=False)

    result = _prune(store).run(policy=RetentionPolicy(last=1))

    assert _kept(result) == {running: ("incomplete, too recent",), complete: ("last #1",)}
    assert [k.complete for k in result.kept] == [False, True]
    assert {gone.key: gone.reason for gone in result.deleted} == {
        stale: "incomplete, older than 24 h",
        older_complete: "kept by no rule",
    }
    assert set(store.objects) == {running, complete, manifest_key(complete)}


def test_age_of_an_incomplete_archive_is_its_write_time_not_the_time_in_its_key() -> None:
    store = AgedStore()
    store.add("mongodb", _days_ago(1))
    # A key stamped a year ago (e.g. --timestamp) but uploaded an hour ago may still be running.
    key = store.add("mongodb", _days_ago(365), complete=False)
    store.written_at[key] = NOW - timedelta(hours=1)

    result = _prune(store).run(policy=RetentionPolicy(last=1))

    assert _kept(result)[key] == ("incomplete, too recent",)
    assert key in store.objects


def test_an_unreadable_manifest_makes_an_incomplete_backup_and_goes_with_its_archive() -> None:
    store = AgedStore()
    newest = store.add("mongodb", _days_ago(1))
    broken = store.add("mongodb", _days_ago(5))
    store.objects[manifest_key(broken)] = b"{not json"

    result = _prune(store).run(policy=RetentionPolicy(last=5))

    assert [gone.key for gone in result.deleted] == [broken]
    assert set(store.objects) == {newest, manifest_key(newest)}


def test_dry_run_reports_the_same_plan_and_deletes_nothing() -> None:
    store = AgedStore()
    for day in range(0, 60, 3):
        store.add("mongodb", _days_ago(day))
    store.add("mongodb", _days_ago(10), complete=False)
    before = dict(store.objects)

    dry = _prune(store).run(policy=RetentionPolicy(weekly=2, monthly=2), dry_run=True)

    assert store.objects == before
    assert store.deletes == []
    real = _prune(store).run(policy=RetentionPolicy(weekly=2, monthly=2))
    assert (dry.kept, dry.deleted, dry.dry_run) == (real.kept, real.deleted, True)
    assert real.deleted
    assert set(store.objects) == {
        k for kept in real.kept for k in (kept.key, manifest_key(kept.key))
    }


def test_an_empty_policy_is_refused_before_anything_is_deleted() -> None:
    store = AgedStore()
    store.add("mongodb", _days_ago(400))
    store.add("mongodb", _days_ago(1), complete=False)
    before = dict(store.objects)

    with pytest.raises(UsageInvalidError, match="no retention rule"):
        _prune(store).run(policy=RetentionPolicy())

    assert store.objects == before


def test_the_policy_applies_to_each_backup_set_on_its_own() -> None:
    store = AgedStore()
    orders = [store.add("orders", _days_ago(day)) for day in range(4)]
    users = [store.add("users", _days_ago(day + 0.5)) for day in range(4)]

    result = _prune(store).run(policy=RetentionPolicy(last=2))

    assert set(_kept(result)) == {*orders[:2], *users[:2]}


def test_name_limits_the_run_to_one_backup_set() -> None:
    store = AgedStore()
    orders = [store.add("orders", _days_ago(day)) for day in range(4)]
    users = [store.add("users", _days_ago(day)) for day in range(4)]

    _prune(store).run(policy=RetentionPolicy(last=1), name="orders")

    assert {r.key for r in ListBackups(store=store, prefix=PREFIX).run()} == {orders[0], *users}


# --- end to end: the console script against moto S3 ---------------------------------------


@attrs.frozen
class Bucket:
    s3: Any
    name: str
    complete: dict[str, datetime]
    """Archive key -> time in its key, for every backup with a manifest."""
    incomplete: tuple[str, ...]

    def keys(self) -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}


def _fill(s3: Any, bucket: str, stamps: list[datetime], incomplete: list[datetime]) -> Bucket:
    complete = {}
    for at in stamps:
        key = archive_key(prefix=PREFIX, name="mongodb", at=at, compressed=True)
        s3.put_object(Bucket=bucket, Key=key, Body=b"archive")
        s3.put_object(Bucket=bucket, Key=manifest_key(key), Body=_manifest(key, "mongodb", at))
        complete[key] = at
    partial = []
    for at in incomplete:
        key = archive_key(prefix=PREFIX, name="mongodb", at=at, compressed=True)
        s3.put_object(Bucket=bucket, Key=key, Body=b"half an archive")
        partial.append(key)
    return Bucket(s3=s3, name=bucket, complete=complete, incomplete=tuple(partial))


def _timeline(count: int, *, days: int, seed: int) -> list[datetime]:
    """`count` backup times over `days` days before NOW, some sharing an hour or a day."""
    rng = random.Random(seed)
    stamps = {NOW - timedelta(seconds=rng.randrange(days * 86400)) for _ in range(count - 6)}
    for anchor in (NOW - timedelta(days=2), NOW - timedelta(days=40)):
        stamps.update(anchor + timedelta(minutes=m) for m in (0, 20, 200))  # same hour, same day
    assert len(stamps) == count
    return sorted(stamps)


@pytest.fixture
def env(moto_endpoint: str, bucket: str) -> dict[str, str]:
    """A prune's configuration: S3 only, no MONGO_URI."""
    return {
        "AWS_S3_BUCKET_NAME": b64(bucket),
        "AWS_ACCESS_KEY_ID": b64("testing"),
        "AWS_SECRET_ACCESS_KEY": b64("testing"),
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_S3": moto_endpoint,
    }


@pytest.fixture
def filled(s3: Any, bucket: str) -> Bucket:
    stamps = _timeline(60, days=400, seed=20250407)
    return _fill(s3, bucket, stamps, [NOW - timedelta(days=300), NOW - timedelta(minutes=5)])


RULE_FLAGS = ["--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "6"]


@pytest.mark.e2e
def test_prune_keeps_exactly_what_the_policy_says_and_dry_run_deletes_nothing(
    env: dict[str, str], filled: Bucket
) -> None:
    before = filled.keys()

    dry = run_cli(["prune", *RULE_FLAGS, "--dry-run", "--json"], env)

    assert dry.returncode == 0, dry.stderr
    assert filled.keys() == before
    completed = run_cli(["prune", *RULE_FLAGS, "--json"], env)
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    expected = oracle({"daily": 7, "weekly": 4, "monthly": 6}, filled.complete)
    kept = {k["key"]: k["reasons"] for k in document["kept"] if k["complete"]}
    assert set(kept) == set(expected)
    assert {key: set(reasons) for key, reasons in kept.items()} == {
        key: {f"{rule} #{rank}" for rule, rank in found} for key, found in expected.items()
    }
    newest = max(filled.complete, key=lambda key: filled.complete[key])
    assert kept[newest] == ["daily #1", "weekly #1", "monthly #1"]
    assert {k["key"]: k["reasons"] for k in document["kept"] if not k["complete"]} == {
        key: ["incomplete, too recent"] for key in filled.incomplete
    }
    deleted = {gone["key"] for gone in document["deleted"]}
    assert deleted == set(filled.complete) - set(expected)
    assert document["counts"] == {"kept": len(expected) + 2, "deleted": len(deleted)}
    assert document["dry_run"] is False
    assert json.loads(dry.stdout)["kept"] == document["kept"]
    assert json.loads(dry.stdout)["deleted"] == document["deleted"]
    after = filled.keys()
    assert after == before - {k for key in deleted for k in (key, manifest_key(key))}
    assert all((key in after) == (manifest_key(key) in after) for key in filled.complete)


@pytest.mark.e2e
def test_retention_variables_apply_unless_a_flag_is_given(
    env: dict[str, str], s3: Any, bucket: str
) -> None:
    filled = _fill(s3, bucket, _timeline(12, days=30, seed=7), [NOW - timedelta(days=9)])
    before = filled.keys()
    configured = {**env, "RETENTION_KEEP_LAST": "5"}

    from_config = run_cli(["prune", "--dry-run", "--json"], configured)
    from_flags = run_cli(["prune", "--keep-yearly", "1", "--dry-run"], configured)

    assert from_config.returncode == 0, from_config.stderr
    document = json.loads(from_config.stdout)
    newest_five = sorted(filled.complete, key=lambda key: filled.complete[key])[-5:]
    assert {k["key"] for k in document["kept"] if k["complete"]} == set(newest_five)
    assert document["policy"]["last"] == 5
    assert from_flags.returncode == 0, from_flags.stderr
    assert "kept by yearly #1" in from_flags.stdout
    assert "last #" not in from_flags.stdout
    assert "Would delete 11 backup(s):" in from_flags.stdout
    assert f"{filled.incomplete[0]}  (incomplete, too recent)" in from_flags.stdout
    assert filled.keys() == before


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "extra_env", "message"),
    [
        (["prune"], {}, "no retention rule"),
        (["prune", "--keep-daily", "0", "--keep-last", "0"], {"RETENTION_KEEP_LAST": "3"},
         "no retention rule"),
        (["prune"], {"RETENTION_KEEP_DAILY": "-3", "RETENTION_KEEP_LAST": "x"},
         "RETENTION_KEEP_LAST must be a whole number of 0 or more; RETENTION_KEEP_DAILY"),
        (["prune", "--keep-daily", "-1"], {}, "--keep-daily: expected a whole number"),
    ],
)  # fmt: skip
def test_usage_and_configuration_errors_exit_2_and_delete_nothing(
    env: dict[str, str], s3: Any, bucket: str, args: list[str], extra_env: dict[str, str],
    message: str,
) -> None:  # fmt: skip
    filled = _fill(s3, bucket, _timeline(8, days=30, seed=3), [])
    before = filled.keys()

    completed = run_cli(args, {**env, **extra_env})

    assert completed.returncode == 2, completed.stderr
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr
    assert filled.keys() == before
