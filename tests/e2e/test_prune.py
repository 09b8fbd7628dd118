"""PruneBackups with fakes, and `backupnimbus prune` end to end on moto S3."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest
from pymongo import MongoClient

from backupnimbus.adapters.memory import FakeClock
from backupnimbus.domain.backup_job import BackupJob
from backupnimbus.domain.keys import MANIFEST_SUFFIX, archive_key, manifest_key
from backupnimbus.domain.list_backups import INCOMPLETE, UNREADABLE, ListBackups
from backupnimbus.domain.models import COMPLETE, PARTIAL, BackupRequest
from backupnimbus.domain.prune_backups import PruneBackups, PruneResult
from backupnimbus.domain.retention import RetentionPolicy
from backupnimbus.entrypoints.commands.prune import render
from backupnimbus.entrypoints.documents import prune_result_document
from backupnimbus.errors import BackupNimbusError, StorageFailedError, UsageInvalidError
from backupnimbus.ports.compressor import GZIP
from tests.support.aged_store import NOW, PREFIX, AgedStore, manifest_bytes
from tests.support.cli import REGION, b64, run_cli
from tests.support.retention_oracle import oracle
from tests.support.servers import Secantus


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

    result = _prune(store).run(policy=RetentionPolicy(daily=3), name="mongodb")

    assert _kept(result) == {keys[0]: ("daily #1",), keys[1]: ("daily #2",),
                             keys[2]: ("daily #3",)}  # fmt: skip
    assert [gone.key for gone in result.deleted] == keys[3:]
    assert {gone.reason for gone in result.deleted} == {"kept by no rule"}
    assert set(store.objects) == {k for key in keys[:3] for k in (key, manifest_key(key))}


def test_each_manifest_is_deleted_before_its_archive() -> None:
    store = AgedStore()
    keys = [store.add("mongodb", _days_ago(day)) for day in range(4)]

    _prune(store).run(policy=RetentionPolicy(last=1), name="mongodb")

    assert store.deletes == [k for key in keys[1:] for k in (manifest_key(key), key)]


def test_a_run_dying_between_the_two_deletes_leaves_an_incomplete_archive_later_removed() -> None:
    store = AgedStore(refuse_delete=".archive.gz")
    keys = [store.add("mongodb", _days_ago(day)) for day in (0, 2, 4)]

    with pytest.raises(StorageFailedError):
        _prune(store).run(policy=RetentionPolicy(last=1), name="mongodb")

    survivors = {r.key: r.state for r in ListBackups(store=store, prefix=PREFIX).run()}
    assert survivors == {keys[0]: COMPLETE, keys[1]: INCOMPLETE, keys[2]: COMPLETE}
    store.refuse_delete = None
    second = _prune(store).run(policy=RetentionPolicy(last=1), name="mongodb")
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

    result = _prune(store).run(policy=RetentionPolicy(last=1), name="mongodb")

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

    result = _prune(store).run(policy=RetentionPolicy(last=1), name="mongodb")

    assert _kept(result)[key] == ("incomplete, too recent",)
    assert key in store.objects


def test_dry_run_reports_the_same_plan_and_deletes_nothing() -> None:
    store = AgedStore()
    for day in range(0, 60, 3):
        store.add("mongodb", _days_ago(day))
    store.add("mongodb", _days_ago(10), complete=False)
    before = dict(store.objects)

    dry = _prune(store).run(
        policy=RetentionPolicy(weekly=2, monthly=2), dry_run=True, name="mongodb"
    )

    assert store.objects == before
    assert store.deletes == []
    real = _prune(store).run(policy=RetentionPolicy(weekly=2, monthly=2), name="mongodb")
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
        _prune(store).run(policy=RetentionPolicy(), name="mongodb")

    assert store.objects == before


def test_the_policy_applies_to_each_backup_set_on_its_own() -> None:
    store = AgedStore()
    orders = [store.add("orders", _days_ago(day)) for day in range(4)]
    users = [store.add("users", _days_ago(day + 0.5)) for day in range(4)]

    result = _prune(store).run(policy=RetentionPolicy(last=2), all_sets=True)

    assert set(_kept(result)) == {*orders[:2], *users[:2]}


def test_name_limits_the_run_to_one_backup_set() -> None:
    store = AgedStore()
    orders = [store.add("orders", _days_ago(day)) for day in range(4)]
    users = [store.add("users", _days_ago(day)) for day in range(4)]

    _prune(store).run(policy=RetentionPolicy(last=1), name="orders")

    assert {r.key for r in ListBackups(store=store, prefix=PREFIX).run()} == {orders[0], *users}


# --- which backups count: the manifest's finish time, and only complete backups -------------


def _deleted(result: PruneResult) -> dict[str, str]:
    return {gone.key: gone.reason for gone in result.deleted}


def test_backups_are_ordered_by_the_finish_time_in_their_manifest_not_the_stamp_in_their_key(
) -> None:  # fmt: skip
    store = AgedStore()
    # Made with --timestamp in the future two days ago; the key sorts after every later backup.
    future = store.add("mongodb", NOW + timedelta(days=300), finished_at=_days_ago(2))
    yesterday = store.add("mongodb", _days_ago(1))

    result = _prune(store).run(policy=RetentionPolicy(last=1), name="mongodb")

    assert _kept(result) == {yesterday: ("last #1",)}
    assert _deleted(result) == {future: "kept by no rule"}
    assert set(store.objects) == {yesterday, manifest_key(yesterday)}


def test_periods_are_those_of_the_finish_time() -> None:
    store = AgedStore()
    # Three keys stamped within the same minute, finished on three different days (back-filled
    # with one --timestamp, say): the daily rule sees three days.
    keys = [
        store.add("mongodb", _days_ago(10) + timedelta(seconds=s), finished_at=_days_ago(day))
        for s, day in ((0, 3), (1, 2), (2, 1))
    ]

    result = _prune(store).run(policy=RetentionPolicy(daily=3), name="mongodb")

    assert _kept(result) == {keys[2]: ("daily #1",), keys[1]: ("daily #2",),
                             keys[0]: ("daily #3",)}  # fmt: skip
    assert result.deleted == ()


def test_a_partial_backup_never_counts_and_is_kept_while_nothing_complete_is_newer() -> None:
    store = AgedStore()
    older = store.add("mongodb", _days_ago(5))
    complete = store.add("mongodb", _days_ago(4))
    # Finished three days ago, so well past the grace an incomplete upload gets.
    partial = store.add("mongodb", _days_ago(3), partial=True)

    result = _prune(store).run(policy=RetentionPolicy(last=1), name="mongodb")

    assert _kept(result) == {
        partial: ("partial, newer than the newest complete backup",),
        complete: ("last #1",),
    }
    assert _deleted(result) == {older: "kept by no rule"}
    assert partial in store.objects
    assert manifest_key(partial) in store.objects


def test_a_partial_backup_goes_once_a_newer_complete_backup_exists() -> None:
    store = AgedStore()
    partial = store.add("mongodb", _days_ago(3), partial=True)
    complete = store.add("mongodb", _days_ago(1))

    result = _prune(store).run(policy=RetentionPolicy(daily=30), name="mongodb")

    assert _kept(result) == {complete: ("daily #1",)}
    assert _deleted(result) == {partial: "partial, superseded by a newer complete backup"}
    assert set(store.objects) == {complete, manifest_key(complete)}


def test_a_set_with_only_partial_backups_keeps_them_all() -> None:
    store = AgedStore()
    partials = [store.add("mongodb", _days_ago(day), partial=True) for day in (2, 9, 40)]

    result = _prune(store).run(policy=RetentionPolicy(last=1), name="mongodb")

    assert set(_kept(result)) == set(partials)
    assert result.deleted == ()
    assert {kept.state for kept in result.kept} == {PARTIAL}


def _unreadable_manifests(key: str) -> dict[str, tuple[bytes, str]]:
    """Ways a manifest beside `key` can exist and not vouch for it -> part of the reason."""
    other = key.replace("T", "T9", 1)
    return {
        "not json": (b"{not json", "not JSON"),
        "another archive's": (manifest_bytes(other, "mongodb", _days_ago(5)), "describes"),
        "another set's": (manifest_bytes(key, "users", _days_ago(5)), "names backup set 'users'"),
        "a field of the wrong type": (
            json.dumps(
                {**json.loads(manifest_bytes(key, "mongodb", _days_ago(5))), "size": "7"}
            ).encode(),
            "size",
        ),
    }


@pytest.mark.parametrize("kind", ["not json", "another archive's", "another set's",
                                  "a field of the wrong type"])  # fmt: skip
def test_an_archive_whose_manifest_does_not_decode_is_kept_and_reported(kind: str) -> None:
    store = AgedStore()
    newest = store.add("mongodb", _days_ago(1))
    broken = store.add("mongodb", _days_ago(5))
    data, why = _unreadable_manifests(broken)[kind]
    store.objects[manifest_key(broken)] = data

    result = _prune(store).run(policy=RetentionPolicy(last=1), name="mongodb")

    assert result.deleted == ()
    [reason] = _kept(result)[broken]
    assert reason.startswith("unreadable manifest: ")
    assert why in reason
    assert {kept.key: kept.state for kept in result.kept}[broken] == UNREADABLE
    assert store.objects[manifest_key(broken)] == data
    assert broken in store.objects
    assert newest in store.objects


def test_protected_keys_are_never_deleted_whatever_the_plan() -> None:
    store = AgedStore()
    newest = store.add("mongodb", _days_ago(1))
    old = store.add("mongodb", _days_ago(9))
    superseded = store.add("mongodb", _days_ago(8), partial=True)
    stale = store.add("mongodb", _days_ago(7), complete=False)
    gone = store.add("mongodb", _days_ago(6))

    result = _prune(store).run(
        policy=RetentionPolicy(last=1), name="mongodb", protect=(old, superseded, stale)
    )

    assert _kept(result) == {newest: ("last #1",), old: ("protected",),
                             superseded: ("protected",), stale: ("protected",)}  # fmt: skip
    assert _deleted(result) == {gone: "kept by no rule"}
    assert set(store.objects) == {newest, old, superseded, stale} | {
        manifest_key(k) for k in (newest, old, superseded)
    }


def test_a_plan_that_would_delete_the_newest_complete_backup_is_refused_before_any_delete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from backupnimbus.domain import prune_backups
    from backupnimbus.domain.retention import RetentionPlan

    store = AgedStore()
    keys = [store.add("mongodb", _days_ago(day)) for day in range(3)]
    before = dict(store.objects)
    monkeypatch.setattr(
        prune_backups, "plan_retention",
        lambda *, policy, backups: RetentionPlan(keep={}, forget=tuple(backups)),
    )  # fmt: skip

    with pytest.raises(BackupNimbusError, match="newest complete backup") as caught:
        _prune(store).run(policy=RetentionPolicy(last=1), name="mongodb")

    assert caught.value.details["key"] == keys[0]
    assert store.objects == before
    assert store.deletes == []


def test_a_set_must_be_named_unless_every_set_is_asked_for() -> None:
    store = AgedStore()
    store.add("orders", _days_ago(1))
    store.add("orders", _days_ago(2))
    before = dict(store.objects)

    with pytest.raises(UsageInvalidError, match="--name") as missing:
        _prune(store).run(policy=RetentionPolicy(last=1))
    with pytest.raises(UsageInvalidError, match="not both"):
        _prune(store).run(policy=RetentionPolicy(last=1), name="orders", all_sets=True)

    assert "--all-sets" in missing.value.message
    assert store.objects == before


def test_a_partial_backup_whose_archive_delete_fails_is_left_incomplete_then_removed() -> None:
    store = AgedStore(refuse_delete=".archive.gz")
    partial = store.add("mongodb", _days_ago(3), partial=True)
    complete = store.add("mongodb", _days_ago(1))

    with pytest.raises(StorageFailedError):
        _prune(store).run(policy=RetentionPolicy(last=1), name="mongodb")

    survivors = {r.key: r.state for r in ListBackups(store=store, prefix=PREFIX).run()}
    assert survivors == {complete: COMPLETE, partial: INCOMPLETE}
    store.refuse_delete = None
    second = _prune(store).run(policy=RetentionPolicy(last=1), name="mongodb")
    assert _deleted(second) == {partial: "incomplete, older than 24 h"}


def test_a_manifest_delete_that_fails_leaves_the_backup_whole() -> None:
    store = AgedStore(refuse_delete=MANIFEST_SUFFIX)
    newest = store.add("mongodb", _days_ago(1))
    old = store.add("mongodb", _days_ago(3))

    with pytest.raises(StorageFailedError):
        _prune(store).run(policy=RetentionPolicy(last=1), name="mongodb")

    survivors = {r.key: r.state for r in ListBackups(store=store, prefix=PREFIX).run()}
    assert survivors == {newest: COMPLETE, old: COMPLETE}


def test_the_dry_run_document_never_says_deleted() -> None:
    store = AgedStore()
    keys = [store.add("mongodb", _days_ago(day)) for day in range(3)]
    broken = store.add("mongodb", _days_ago(4))
    store.objects[manifest_key(broken)] = b"[]"
    policy = RetentionPolicy(last=1)

    dry = prune_result_document(_prune(store).run(policy=policy, name="mongodb", dry_run=True))
    real = prune_result_document(_prune(store).run(policy=policy, name="mongodb"))

    assert "deleted" not in dry
    assert [gone["key"] for gone in dry["would_delete"]] == keys[1:]
    assert dry["counts"] == {"kept": 2, "would_delete": 2}
    assert "would_delete" not in real
    assert real["deleted"] == dry["would_delete"]
    assert real["counts"] == {"kept": 2, "deleted": 2}
    assert {k["key"]: k["state"] for k in real["kept"]} == {keys[0]: COMPLETE, broken: UNREADABLE}
    problem = "its manifest does not decode (not a JSON object)"
    assert real["unreadable"] == [{"key": broken, "problem": problem}]
    text = render(dry)
    assert "Would delete 2 backup(s):" in text
    assert "Deleted" not in text
    assert f"{broken}  (unreadable manifest: {problem})" in text
    assert "1 backup(s) with an unreadable manifest were kept" in render(real)


# --- the scheduled run: prune after a backup never takes the backup just made ---------------


def _job(store: AgedStore, clock: FakeClock, policy: RetentionPolicy) -> BackupJob:
    from backupnimbus.adapters.memory import FakeDumpRunner, RecordingMailer
    from backupnimbus.entrypoints.config import Config
    from backupnimbus.entrypoints.container import bootstrap

    container = bootstrap(
        Config(mongo_uri="mongodb://db:27017/", backup_prefix=PREFIX, retention=policy),
        dump_runner=FakeDumpRunner(), store=store,
        mailer=RecordingMailer(), clock=clock,
    )  # fmt: skip
    return container.resolve(BackupJob)


@attrs.define
class _StampingStore(AgedStore):
    """Records a write time for what a job writes, by the clock's time, as S3 does."""

    clock: FakeClock = attrs.Factory(lambda: FakeClock(current=NOW))

    def _commit(self, key: str, data: bytes) -> None:
        super()._commit(key, data)
        self.written_at[key] = self.clock.current


def test_a_run_after_a_future_stamped_backup_keeps_its_own_backup() -> None:
    clock = FakeClock(current=NOW)
    store = _StampingStore(clock=clock)
    job = _job(store, clock, RetentionPolicy(last=1))
    # Stamped a year ahead when it finished, as an older version's `--timestamp` allowed.
    future = store.add("mongodb", NOW + timedelta(days=365), finished_at=NOW)
    clock.current += timedelta(days=1)

    own = job.run(request=BackupRequest(name="mongodb"))

    assert own.retention is not None
    assert own.backup.manifest.key in store.objects
    assert _kept(own.retention) == {own.backup.manifest.key: ("last #1",)}
    assert _deleted(own.retention) == {future: "kept by no rule"}


def test_a_manual_backup_stamped_in_the_past_is_not_deleted_by_its_own_run() -> None:
    clock = FakeClock(current=NOW)
    store = _StampingStore(clock=clock)
    job = _job(store, clock, RetentionPolicy(last=1))
    earlier = job.run(request=BackupRequest(name="mongodb"))
    clock.current += timedelta(hours=1)

    manual = job.run(request=BackupRequest(name="mongodb", timestamp=_days_ago(400)))

    assert manual.retention is not None
    assert manual.backup.manifest.key in store.objects
    assert _kept(manual.retention) == {manual.backup.manifest.key: ("last #1",)}
    assert _deleted(manual.retention) == {earlier.backup.manifest.key: "kept by no rule"}


def test_the_run_protects_its_own_backup_even_when_another_claims_to_have_finished_later(
) -> None:  # fmt: skip
    store = _StampingStore()
    # Written by a host whose clock ran a day ahead: by finish time it is the newest.
    skewed = store.add("mongodb", _days_ago(1), finished_at=NOW + timedelta(days=1))
    job = _job(store, FakeClock(current=NOW), RetentionPolicy(last=1))

    own = job.run(request=BackupRequest(name="mongodb"))

    assert own.retention is not None
    assert _kept(own.retention) == {own.backup.manifest.key: ("protected",),
                                    skewed: ("last #1",)}  # fmt: skip
    assert own.backup.manifest.key in store.objects
    assert manifest_key(own.backup.manifest.key) in store.objects


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
        key = archive_key(prefix=PREFIX, name="mongodb", at=at, compression=GZIP)
        s3.put_object(Bucket=bucket, Key=key, Body=b"archive")
        s3.put_object(Bucket=bucket, Key=manifest_key(key), Body=manifest_bytes(key, "mongodb", at))
        complete[key] = at
    partial = []
    for at in incomplete:
        key = archive_key(prefix=PREFIX, name="mongodb", at=at, compression=GZIP)
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


RULE_FLAGS = ["--name", "mongodb", "--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "6"]


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
    assert json.loads(dry.stdout)["would_delete"] == document["deleted"]
    assert "deleted" not in json.loads(dry.stdout)
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

    from_config = run_cli(["prune", "--name", "mongodb", "--dry-run", "--json"], configured)
    from_flags = run_cli(
        ["prune", "--name", "mongodb", "--keep-yearly", "1", "--dry-run"], configured
    )

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
        (["prune", "--keep-last", "1", "--name", "a", "--all-sets"], {}, "not allowed with"),
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


@pytest.mark.e2e
def test_a_backup_stamped_in_the_future_never_makes_later_runs_delete_their_own_backup(
    secantus: Secantus, database: str, backup_env: dict[str, str], s3: Any, bucket: str
) -> None:
    MongoClient(secantus.uri)[database].things.insert_many({"n": n} for n in range(50))
    env = {**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*", "RETENTION_KEEP_LAST": "1"}
    # A backup stamped in 2099 when it finished, as an older version's `--timestamp` allowed
    # (this one refuses it): a real archive, copied to that key, with a manifest for it.
    made = run_cli(["run", "--json", "--timestamp", "2025-01-01T00:00:00Z"], env)
    assert made.returncode == 0, made.stderr
    first = json.loads(made.stdout)
    future_key = first["key"].replace("2025/01/01", "2099/01/01").replace("20250101", "20990101")
    s3.copy_object(
        Bucket=bucket, Key=future_key, CopySource={"Bucket": bucket, "Key": first["key"]}
    )
    manifest = {**first["manifest"], "key": future_key}
    s3.put_object(Bucket=bucket, Key=manifest_key(future_key), Body=json.dumps(manifest).encode())
    s3.delete_object(Bucket=bucket, Key=manifest_key(first["key"]))
    s3.delete_object(Bucket=bucket, Key=first["key"])

    later = run_cli(["run", "--json"], env)
    pruned = run_cli(["prune", "--name", "mongodb", "--json"], env)

    assert later.returncode == 0, later.stderr
    document = json.loads(later.stdout)
    own = document["key"]
    assert [kept["key"] for kept in document["retention"]["kept"]] == [own]
    assert [gone["key"] for gone in document["retention"]["deleted"]] == [future_key]
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout)["deleted"] == []
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    stored = {item["Key"] for page in pages for item in page.get("Contents", [])}
    assert stored == {own, manifest_key(own)}
