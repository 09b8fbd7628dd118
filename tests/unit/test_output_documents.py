"""The JSON documents users and alarms parse, pinned: every command's and Lambda action's
result document and the error document, built from representative results, must keep their keys,
their order and their values, whichever way the code builds them.

Each expected document is written out whole; the comparison is of the JSON text
(`json.dumps`, keys unsorted), so that the order of the keys is pinned as well.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from backupnimbus import errors
from backupnimbus.domain.archive import ArchiveHeader, ArchiveSummary, NamespaceStats, PreludeEntry
from backupnimbus.domain.backup_job import JobResult
from backupnimbus.domain.list_backups import BackupRecord
from backupnimbus.domain.models import (
    BackupResult,
    Manifest,
    NotificationOutcome,
    ServerSideEncryption,
    SourceInfo,
)
from backupnimbus.domain.oplog import OplogTimestamp, OplogWindow
from backupnimbus.domain.prune_backups import DeletedBackup, ExtendedLock, KeptBackup, PruneResult
from backupnimbus.domain.restore_backup import RestoreResult
from backupnimbus.domain.restore_drill import CollectionCheck, DrillResult
from backupnimbus.domain.retention import RetentionPolicy
from backupnimbus.domain.verify_backup import CheckedArchive, VerificationReport, VerifiedFile
from backupnimbus.entrypoints import documents
from backupnimbus.entrypoints.config import Config
from backupnimbus.ports.compressor import Compression
from backupnimbus.ports.object_lock import Lock

AT = datetime(2024, 5, 17, 2, 0, 3, tzinfo=UTC)
KEY = "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz"
LOCK = Lock(mode="COMPLIANCE", retain_until=datetime(2024, 6, 16, 2, 0, tzinfo=UTC))
LATER = Lock(mode="COMPLIANCE", retain_until=datetime(2024, 7, 1, 0, 0, 0, 250000, tzinfo=UTC))
OPLOG = OplogWindow(
    entries=42,
    first_ts=OplogTimestamp(t=1715911200, i=1),
    last_ts=OplogTimestamp(t=1715911202, i=7),
)


def manifest(**changes: Any) -> Manifest:
    fields: dict[str, Any] = {
        "name": "nightly",
        "key": KEY,
        "size": 1234,
        "sha256": "ab" * 32,
        "compressed": True,
        "encrypted": False,
        "started_at": AT,
        "finished_at": AT + timedelta(seconds=2.5),
        "mongodump_version": "100.9.4",
        "tool_version": "1.0.0",
        "source": SourceInfo(hosts=("db.example.com:27017",), database="app"),
        "namespaces": {"app.users": 10, "app.orders": 3},
        "compression": Compression("gzip", 6),
    }
    fields.update(changes)
    return Manifest(**fields)


COMPLETE = manifest(
    object_lock=LOCK,
    oplog=OPLOG,
    consistent_at=OPLOG.consistent_at,
    server_side_encryption=ServerSideEncryption(algorithm="aws:kms", kms_key_id="alias/backups"),
)
PARTIAL = manifest(status="partial", warnings=("failed: app.broken",))

SUMMARY = ArchiveSummary(
    header=ArchiveHeader(
        format_version="0.1",
        server_version="7.0.5",
        tool_version="100.9.4",
        concurrent_collections=4,
    ),
    prelude=(
        PreludeEntry(
            namespace="app.users", collection_type="collection", indexes=("_id_", "email_1")
        ),
        PreludeEntry(namespace="app.v", collection_type=None, indexes=()),
    ),
    namespaces=(
        NamespaceStats(namespace="app.users", documents=10, bytes=900, crc_ok=True),
        NamespaceStats(namespace="app.orders", documents=3, bytes=120, crc_ok=True),
    ),
    bytes_read=5000,
    gzipped=True,
)
CHECKED = CheckedArchive(size=1234, sha256="ab" * 32, archive=SUMMARY, compression="gzip")
CHECKED_OPLOG = CheckedArchive(
    size=1234,
    sha256="ab" * 32,
    archive=ArchiveSummary(
        header=SUMMARY.header,
        prelude=SUMMARY.prelude,
        namespaces=SUMMARY.namespaces,
        bytes_read=6000,
        gzipped=False,
        oplog=OPLOG,
    ),
    encrypted=True,
    compression="zstd",
)
CHECKED_EMPTY_OPLOG = CheckedArchive(
    size=10,
    sha256="cd" * 32,
    archive=ArchiveSummary(
        header=SUMMARY.header,
        prelude=(),
        namespaces=(),
        bytes_read=10,
        gzipped=False,
        oplog=OplogWindow(entries=0),
    ),
)
CHECKED_OTHER = CheckedArchive(
    size=77, sha256="ef" * 32, archive=None, compression="none", format="sqlite3-backup"
)

RETENTION = RetentionPolicy(last=2, daily=7)


def prune(*, dry_run: bool, locks: bool) -> PruneResult:
    return PruneResult(
        policy=RETENTION,
        kept=(
            KeptBackup(
                key=KEY,
                state="complete",
                reasons=("last #1", "daily #1"),
                lock=LOCK if locks else None,
            ),
            KeptBackup(
                key="backups/nightly/b",
                state="unreadable",
                reasons=("unreadable manifest: bad json",),
            ),
            KeptBackup(
                key="backups/nightly/c",
                state="complete",
                reasons=("locked until 2024-06-01T00:00:00Z",),
                lock=LOCK if locks else None,
            ),
        ),
        deleted=(
            DeletedBackup(key="backups/nightly/d", state="complete", reason="outside the policy"),
            DeletedBackup(
                key="backups/nightly/e", state="incomplete", reason="incomplete, older than 24h"
            ),
        ),
        dry_run=dry_run,
        extended=(
            ExtendedLock(key=KEY, previous=LOCK, lock=LATER),
            ExtendedLock(key="backups/nightly/f", previous=None, lock=LATER),
        )
        if locks
        else (),
        locks_in_use=locks,
    )


RECORDS = (
    BackupRecord(
        key=KEY,
        name="nightly",
        timestamp=AT,
        size=1234,
        compressed=True,
        compression="gzip",
        encrypted=False,
        modified_at=AT,
        manifest=COMPLETE,
        lock=LOCK,
    ),
    BackupRecord(
        key="backups/nightly/p.archive.zst.age",
        name="nightly",
        timestamp=AT - timedelta(days=1),
        size=99,
        compressed=True,
        compression="zstd",
        encrypted=True,
        modified_at=AT,
        manifest=PARTIAL,
    ),
    BackupRecord(
        key="backups/nightly/u.archive",
        name="nightly",
        timestamp=AT - timedelta(days=2),
        size=5,
        compressed=False,
        compression="none",
        encrypted=False,
        modified_at=AT,
        manifest_problem="not JSON",
        lock=LOCK,
    ),
    BackupRecord(
        key="backups/nightly/i.archive.gz",
        name="nightly",
        timestamp=AT - timedelta(days=3, microseconds=5),
        size=0,
        compressed=True,
        compression="gzip",
        encrypted=False,
        modified_at=AT,
    ),
    BackupRecord(
        key="backups/other/o.db",
        name="other",
        timestamp=AT,
        size=7,
        compressed=False,
        compression="none",
        encrypted=False,
        modified_at=AT,
        manifest=manifest(name="other", namespaces=None, format="sqlite3-backup"),
    ),
)

DRILL = DrillResult(
    key=KEY,
    name="nightly",
    target_hosts=("scratch:27017",),
    scratch_prefix="drill_ab12_",
    collections=(
        CollectionCheck(
            namespace="app.users",
            scratch="drill_ab12_app.users",
            documents=10,
            indexes=2,
            sampled=5,
        ),
        CollectionCheck(
            namespace="app.orders",
            scratch="drill_ab12_app.orders",
            documents=3,
            indexes=1,
            sampled=3,
        ),
    ),
    size=1234,
    rto_s=12.345,
    verify_s=1.5,
    restore_s=9.25,
    check_s=1.595,
    seed=7,
    sample_size=5,
    dropped_leftovers=("drill_old_app",),
)


def cases() -> dict[str, Any]:
    s3 = Config(bucket="my-bucket", backup_prefix="backups/")
    local = Config(local_backup_dir="/var/backups", backup_prefix="p/")
    plugin = Config(storage_backend="memory", backup_prefix="x/", object_lock_mode="GOVERNANCE")
    complete = BackupResult(
        manifest=COMPLETE,
        manifest_key=KEY + ".manifest.json",
        notification=NotificationOutcome(sent=True),
    )
    partial = BackupResult(
        manifest=PARTIAL,
        manifest_key=KEY + ".manifest.json",
        notification=NotificationOutcome(sent=False, error="mailer down"),
    )
    bare = BackupResult(manifest=manifest(), manifest_key=KEY + ".manifest.json")
    return {
        "store_s3": documents.store_document(s3),
        "store_local": documents.store_document(local),
        "store_plugin": documents.store_document(plugin),
        "backup_complete": documents.backup_result_document(complete),
        "backup_partial": documents.backup_result_document(partial),
        "backup_bare": documents.backup_result_document(bare),
        "job_with_retention": documents.job_result_document(
            JobResult(backup=complete, retention=prune(dry_run=False, locks=False))
        ),
        "job_retention_failed": documents.job_result_document(
            JobResult(backup=bare, retention_error="STORAGE_ERROR: denied")
        ),
        "list_locks": documents.list_document(RECORDS, config=plugin, name="nightly"),
        "list_no_locks": documents.list_document(RECORDS, config=s3, name=None),
        "verify_complete": documents.verified_document(
            VerificationReport(key=KEY, manifest=COMPLETE, checked=CHECKED)
        ),
        "verify_partial_oplog": documents.verified_document(
            VerificationReport(key=KEY, manifest=PARTIAL, checked=CHECKED_OPLOG)
        ),
        "verify_empty_oplog": documents.verified_document(
            VerificationReport(key=KEY, manifest=COMPLETE, checked=CHECKED_EMPTY_OPLOG)
        ),
        "verify_other_format": documents.verified_document(
            VerificationReport(
                key="backups/other/o.db",
                manifest=manifest(format="sqlite3-backup"),
                checked=CHECKED_OTHER,
            )
        ),
        "verified_file": documents.verified_file_document(
            VerifiedFile(file="/tmp/x.archive", checked=CHECKED_OPLOG)
        ),
        "locks": {"lock": documents.lock_document(LOCK), "none": documents.lock_document(None)},
        "prune_real": documents.prune_result_document(prune(dry_run=False, locks=False)),
        "prune_dry_run": documents.prune_result_document(prune(dry_run=True, locks=False)),
        "prune_real_locks": documents.prune_result_document(prune(dry_run=False, locks=True)),
        "prune_dry_run_locks": documents.prune_result_document(prune(dry_run=True, locks=True)),
        "prune_nothing": documents.prune_result_document(
            PruneResult(policy=RetentionPolicy(), kept=(), deleted=(), dry_run=False)
        ),
        "drill": documents.drill_document(DRILL),
        "drill_notified": documents.drill_document(
            attrs.evolve(DRILL, notification=NotificationOutcome(sent=False, error="no mail"))
        ),
        "restore_key": documents.restore_document(
            RestoreResult(
                key=KEY,
                file=None,
                target_hosts=("t:27017",),
                namespaces={"app.users": 10, "app.orders": 3},
                size=1234,
                sha256="ab" * 32,
                verified=True,
                dry_run=False,
                oplog_replay=True,
                oplog=OPLOG,
            )
        ),
        "restore_dry_run_partial": documents.restore_document(
            RestoreResult(
                key=KEY,
                file=None,
                target_hosts=("t:27017", "u:27018"),
                namespaces={"app.users": 10, "app.orders": None},
                size=99,
                sha256="ab" * 32,
                verified=True,
                dry_run=True,
                existing=("app.users",),
                warnings=("failed: app.broken",),
            )
        ),
        **errors_cases(),
        "restore_file": documents.restore_document(
            RestoreResult(
                key=None,
                file="/tmp/x.archive",
                target_hosts=("t:27017",),
                namespaces={},
                size=5,
                sha256="cd" * 32,
                verified=False,
                dry_run=False,
            )
        ),
    }


def errors_cases() -> dict[str, Any]:
    at = datetime(2024, 5, 17, 4, 0, 3, 123456, tzinfo=timezone(timedelta(hours=2)))
    failures: dict[str, errors.BackupNimbusError] = {
        "error_config": errors.ConfigInvalidError(
            ["MONGO_URI is not set", "BACKUP_NAME must be text"]
        ),
        "error_usage": errors.UsageInvalidError(["verify needs a KEY, --latest or --file PATH"]),
        "error_dump": errors.DumpFailedError(
            "mongodump exited 1", details={"exit_code": 1, "stderr": ["x"]}
        ),
        "error_plain": errors.BackupNimbusError("something failed"),
        "error_partial": errors.PartialBackupError(
            "Backup incomplete", details={"backup": {"key": KEY, "status": "partial"}}
        ),
        "error_timeout": errors.DeadlineExceededError("took too long", details={"budget_s": 1.5}),
        "error_identity": errors.missing_identity("the archive", "AGE_IDENTITY"),
    }
    return {name: failure.to_document(at=at) for name, failure in failures.items()} | {
        "error_exit_codes": {name: failure.exit_code for name, failure in failures.items()}
    }


EXPECTED: dict[str, Any] = {
    "store_s3": {"backend": "s3", "location": "s3://my-bucket/backups/"},
    "store_local": {"backend": "local", "location": "/var/backups/p/"},
    "store_plugin": {"backend": "memory", "location": "x/"},
    "backup_complete": {
        "status": "success",
        "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
        "manifest_key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz.manifest.json",
        "size": 1234,
        "sha256": "abababababababababababababababababababababababababababababababab",
        "duration_s": 2.5,
        "manifest": {
            "name": "nightly",
            "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
            "size": 1234,
            "sha256": "abababababababababababababababababababababababababababababababab",
            "compressed": True,
            "encrypted": False,
            "started_at": "2024-05-17T02:00:03Z",
            "finished_at": "2024-05-17T02:00:05.500000Z",
            "mongodump_version": "100.9.4",
            "tool_version": "1.0.0",
            "source": {"hosts": ["db.example.com:27017"], "database": "app"},
            "namespaces": {"app.users": 10, "app.orders": 3},
            "format_version": 1,
            "recipients": [],
            "server_side_encryption": {"algorithm": "aws:kms", "kms_key_id": "alias/backups"},
            "status": "complete",
            "warnings": [],
            "compression": {"algorithm": "gzip", "level": 6},
            "object_lock": {"mode": "COMPLIANCE", "retain_until": "2024-06-16T02:00:00Z"},
            "oplog": {
                "entries": 42,
                "first_ts": {"t": 1715911200, "i": 1},
                "last_ts": {"t": 1715911202, "i": 7},
            },
            "consistent_at": "2024-05-17T02:00:02Z",
            "format": "mongodump-archive",
            "duration_s": 2.5,
        },
        "lock": {"mode": "COMPLIANCE", "retain_until": "2024-06-16T02:00:00Z"},
        "notification": {"sent": True, "error": None},
    },
    "backup_partial": {
        "status": "partial",
        "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
        "manifest_key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz.manifest.json",
        "size": 1234,
        "sha256": "abababababababababababababababababababababababababababababababab",
        "duration_s": 2.5,
        "manifest": {
            "name": "nightly",
            "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
            "size": 1234,
            "sha256": "abababababababababababababababababababababababababababababababab",
            "compressed": True,
            "encrypted": False,
            "started_at": "2024-05-17T02:00:03Z",
            "finished_at": "2024-05-17T02:00:05.500000Z",
            "mongodump_version": "100.9.4",
            "tool_version": "1.0.0",
            "source": {"hosts": ["db.example.com:27017"], "database": "app"},
            "namespaces": {"app.users": 10, "app.orders": 3},
            "format_version": 1,
            "recipients": [],
            "server_side_encryption": None,
            "status": "partial",
            "warnings": ["failed: app.broken"],
            "compression": {"algorithm": "gzip", "level": 6},
            "object_lock": None,
            "format": "mongodump-archive",
            "duration_s": 2.5,
        },
        "notification": {"sent": False, "error": "mailer down"},
    },
    "backup_bare": {
        "status": "success",
        "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
        "manifest_key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz.manifest.json",
        "size": 1234,
        "sha256": "abababababababababababababababababababababababababababababababab",
        "duration_s": 2.5,
        "manifest": {
            "name": "nightly",
            "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
            "size": 1234,
            "sha256": "abababababababababababababababababababababababababababababababab",
            "compressed": True,
            "encrypted": False,
            "started_at": "2024-05-17T02:00:03Z",
            "finished_at": "2024-05-17T02:00:05.500000Z",
            "mongodump_version": "100.9.4",
            "tool_version": "1.0.0",
            "source": {"hosts": ["db.example.com:27017"], "database": "app"},
            "namespaces": {"app.users": 10, "app.orders": 3},
            "format_version": 1,
            "recipients": [],
            "server_side_encryption": None,
            "status": "complete",
            "warnings": [],
            "compression": {"algorithm": "gzip", "level": 6},
            "object_lock": None,
            "format": "mongodump-archive",
            "duration_s": 2.5,
        },
    },
    "job_with_retention": {
        "status": "success",
        "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
        "manifest_key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz.manifest.json",
        "size": 1234,
        "sha256": "abababababababababababababababababababababababababababababababab",
        "duration_s": 2.5,
        "manifest": {
            "name": "nightly",
            "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
            "size": 1234,
            "sha256": "abababababababababababababababababababababababababababababababab",
            "compressed": True,
            "encrypted": False,
            "started_at": "2024-05-17T02:00:03Z",
            "finished_at": "2024-05-17T02:00:05.500000Z",
            "mongodump_version": "100.9.4",
            "tool_version": "1.0.0",
            "source": {"hosts": ["db.example.com:27017"], "database": "app"},
            "namespaces": {"app.users": 10, "app.orders": 3},
            "format_version": 1,
            "recipients": [],
            "server_side_encryption": {"algorithm": "aws:kms", "kms_key_id": "alias/backups"},
            "status": "complete",
            "warnings": [],
            "compression": {"algorithm": "gzip", "level": 6},
            "object_lock": {"mode": "COMPLIANCE", "retain_until": "2024-06-16T02:00:00Z"},
            "oplog": {
                "entries": 42,
                "first_ts": {"t": 1715911200, "i": 1},
                "last_ts": {"t": 1715911202, "i": 7},
            },
            "consistent_at": "2024-05-17T02:00:02Z",
            "format": "mongodump-archive",
            "duration_s": 2.5,
        },
        "lock": {"mode": "COMPLIANCE", "retain_until": "2024-06-16T02:00:00Z"},
        "notification": {"sent": True, "error": None},
        "retention": {
            "status": "success",
            "dry_run": False,
            "policy": {"last": 2, "hourly": 0, "daily": 7, "weekly": 0, "monthly": 0, "yearly": 0},
            "kept": [
                {
                    "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
                    "state": "complete",
                    "complete": True,
                    "reasons": ["last #1", "daily #1"],
                },
                {
                    "key": "backups/nightly/b",
                    "state": "unreadable",
                    "complete": False,
                    "reasons": ["unreadable manifest: bad json"],
                },
                {
                    "key": "backups/nightly/c",
                    "state": "complete",
                    "complete": True,
                    "reasons": ["locked until 2024-06-01T00:00:00Z"],
                },
            ],
            "deleted": [
                {"key": "backups/nightly/d", "state": "complete", "reason": "outside the policy"},
                {
                    "key": "backups/nightly/e",
                    "state": "incomplete",
                    "reason": "incomplete, older than 24h",
                },
            ],
            "unreadable": [{"key": "backups/nightly/b", "problem": "bad json"}],
            "counts": {"kept": 3, "deleted": 2},
        },
    },
    "job_retention_failed": {
        "status": "success",
        "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
        "manifest_key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz.manifest.json",
        "size": 1234,
        "sha256": "abababababababababababababababababababababababababababababababab",
        "duration_s": 2.5,
        "manifest": {
            "name": "nightly",
            "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
            "size": 1234,
            "sha256": "abababababababababababababababababababababababababababababababab",
            "compressed": True,
            "encrypted": False,
            "started_at": "2024-05-17T02:00:03Z",
            "finished_at": "2024-05-17T02:00:05.500000Z",
            "mongodump_version": "100.9.4",
            "tool_version": "1.0.0",
            "source": {"hosts": ["db.example.com:27017"], "database": "app"},
            "namespaces": {"app.users": 10, "app.orders": 3},
            "format_version": 1,
            "recipients": [],
            "server_side_encryption": None,
            "status": "complete",
            "warnings": [],
            "compression": {"algorithm": "gzip", "level": 6},
            "object_lock": None,
            "format": "mongodump-archive",
            "duration_s": 2.5,
        },
        "retention": {"status": "failed", "error": "STORAGE_ERROR: denied"},
    },
    "list_locks": {
        "store": {"backend": "memory", "location": "x/"},
        "set": "nightly",
        "backups": [
            {
                "name": "nightly",
                "timestamp": "2024-05-17T02:00:03Z",
                "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
                "size": 1234,
                "sha256": "abababababababababababababababababababababababababababababababab",
                "compressed": True,
                "compression": "gzip",
                "encrypted": False,
                "complete": True,
                "status": "complete",
                "problem": None,
                "warnings": [],
                "namespaces": {"app.users": 10, "app.orders": 3},
                "format": "mongodump-archive",
                "lock": {"mode": "COMPLIANCE", "retain_until": "2024-06-16T02:00:00Z"},
            },
            {
                "name": "nightly",
                "timestamp": "2024-05-16T02:00:03Z",
                "key": "backups/nightly/p.archive.zst.age",
                "size": 99,
                "sha256": "abababababababababababababababababababababababababababababababab",
                "compressed": True,
                "compression": "zstd",
                "encrypted": True,
                "complete": False,
                "status": "partial",
                "problem": None,
                "warnings": ["failed: app.broken"],
                "namespaces": {"app.users": 10, "app.orders": 3},
                "format": "mongodump-archive",
                "lock": None,
            },
            {
                "name": "nightly",
                "timestamp": "2024-05-15T02:00:03Z",
                "key": "backups/nightly/u.archive",
                "size": 5,
                "sha256": None,
                "compressed": False,
                "compression": "none",
                "encrypted": False,
                "complete": False,
                "status": "unreadable",
                "problem": "not JSON",
                "warnings": [],
                "namespaces": None,
                "format": None,
                "lock": {"mode": "COMPLIANCE", "retain_until": "2024-06-16T02:00:00Z"},
            },
            {
                "name": "nightly",
                "timestamp": "2024-05-14T02:00:02.999995Z",
                "key": "backups/nightly/i.archive.gz",
                "size": 0,
                "sha256": None,
                "compressed": True,
                "compression": "gzip",
                "encrypted": False,
                "complete": False,
                "status": "incomplete",
                "problem": None,
                "warnings": [],
                "namespaces": None,
                "format": None,
                "lock": None,
            },
            {
                "name": "other",
                "timestamp": "2024-05-17T02:00:03Z",
                "key": "backups/other/o.db",
                "size": 7,
                "sha256": "abababababababababababababababababababababababababababababababab",
                "compressed": False,
                "compression": "none",
                "encrypted": False,
                "complete": True,
                "status": "complete",
                "problem": None,
                "warnings": [],
                "namespaces": None,
                "format": "sqlite3-backup",
                "lock": None,
            },
        ],
    },
    "list_no_locks": {
        "store": {"backend": "s3", "location": "s3://my-bucket/backups/"},
        "set": None,
        "backups": [
            {
                "name": "nightly",
                "timestamp": "2024-05-17T02:00:03Z",
                "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
                "size": 1234,
                "sha256": "abababababababababababababababababababababababababababababababab",
                "compressed": True,
                "compression": "gzip",
                "encrypted": False,
                "complete": True,
                "status": "complete",
                "problem": None,
                "warnings": [],
                "namespaces": {"app.users": 10, "app.orders": 3},
                "format": "mongodump-archive",
            },
            {
                "name": "nightly",
                "timestamp": "2024-05-16T02:00:03Z",
                "key": "backups/nightly/p.archive.zst.age",
                "size": 99,
                "sha256": "abababababababababababababababababababababababababababababababab",
                "compressed": True,
                "compression": "zstd",
                "encrypted": True,
                "complete": False,
                "status": "partial",
                "problem": None,
                "warnings": ["failed: app.broken"],
                "namespaces": {"app.users": 10, "app.orders": 3},
                "format": "mongodump-archive",
            },
            {
                "name": "nightly",
                "timestamp": "2024-05-15T02:00:03Z",
                "key": "backups/nightly/u.archive",
                "size": 5,
                "sha256": None,
                "compressed": False,
                "compression": "none",
                "encrypted": False,
                "complete": False,
                "status": "unreadable",
                "problem": "not JSON",
                "warnings": [],
                "namespaces": None,
                "format": None,
            },
            {
                "name": "nightly",
                "timestamp": "2024-05-14T02:00:02.999995Z",
                "key": "backups/nightly/i.archive.gz",
                "size": 0,
                "sha256": None,
                "compressed": True,
                "compression": "gzip",
                "encrypted": False,
                "complete": False,
                "status": "incomplete",
                "problem": None,
                "warnings": [],
                "namespaces": None,
                "format": None,
            },
            {
                "name": "other",
                "timestamp": "2024-05-17T02:00:03Z",
                "key": "backups/other/o.db",
                "size": 7,
                "sha256": "abababababababababababababababababababababababababababababababab",
                "compressed": False,
                "compression": "none",
                "encrypted": False,
                "complete": True,
                "status": "complete",
                "problem": None,
                "warnings": [],
                "namespaces": None,
                "format": "sqlite3-backup",
            },
        ],
    },
    "verify_complete": {
        "status": "verified",
        "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
        "manifest_sha256": "abababababababababababababababababababababababababababababababab",
        "size": 1234,
        "sha256": "abababababababababababababababababababababababababababababababab",
        "compressed": True,
        "compression": "gzip",
        "encrypted": False,
        "format": "mongodump-archive",
        "archive": {
            "bytes": 5000,
            "format_version": "0.1",
            "server_version": "7.0.5",
            "tool_version": "100.9.4",
            "concurrent_collections": 4,
        },
        "prelude": [
            {"namespace": "app.users", "type": "collection", "indexes": ["_id_", "email_1"]},
            {"namespace": "app.v", "type": None, "indexes": []},
        ],
        "namespaces": {
            "app.users": {"documents": 10, "bytes": 900, "crc_ok": True},
            "app.orders": {"documents": 3, "bytes": 120, "crc_ok": True},
        },
    },
    "verify_partial_oplog": {
        "status": "verified-partial",
        "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
        "manifest_sha256": "abababababababababababababababababababababababababababababababab",
        "size": 1234,
        "sha256": "abababababababababababababababababababababababababababababababab",
        "compressed": True,
        "compression": "zstd",
        "encrypted": True,
        "format": "mongodump-archive",
        "archive": {
            "bytes": 6000,
            "format_version": "0.1",
            "server_version": "7.0.5",
            "tool_version": "100.9.4",
            "concurrent_collections": 4,
        },
        "prelude": [
            {"namespace": "app.users", "type": "collection", "indexes": ["_id_", "email_1"]},
            {"namespace": "app.v", "type": None, "indexes": []},
        ],
        "namespaces": {
            "app.users": {"documents": 10, "bytes": 900, "crc_ok": True},
            "app.orders": {"documents": 3, "bytes": 120, "crc_ok": True},
        },
        "oplog": {
            "entries": 42,
            "first_ts": {"t": 1715911200, "i": 1},
            "last_ts": {"t": 1715911202, "i": 7},
        },
        "consistent_at": "2024-05-17T02:00:02Z",
        "warnings": ["failed: app.broken"],
        "exit_code": 3,
    },
    "verify_empty_oplog": {
        "status": "verified",
        "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
        "manifest_sha256": "abababababababababababababababababababababababababababababababab",
        "size": 10,
        "sha256": "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
        "compressed": False,
        "compression": "none",
        "encrypted": False,
        "format": "mongodump-archive",
        "archive": {
            "bytes": 10,
            "format_version": "0.1",
            "server_version": "7.0.5",
            "tool_version": "100.9.4",
            "concurrent_collections": 4,
        },
        "prelude": [],
        "namespaces": {},
        "oplog": {"entries": 0, "first_ts": None, "last_ts": None},
        "consistent_at": None,
    },
    "verify_other_format": {
        "status": "verified",
        "key": "backups/other/o.db",
        "manifest_sha256": "abababababababababababababababababababababababababababababababab",
        "size": 77,
        "sha256": "efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef",
        "compressed": False,
        "compression": "none",
        "encrypted": False,
        "format": "sqlite3-backup",
        "archive": None,
        "prelude": [],
        "namespaces": {},
    },
    "verified_file": {
        "status": "verified",
        "file": "/tmp/x.archive",
        "size": 1234,
        "sha256": "abababababababababababababababababababababababababababababababab",
        "compressed": True,
        "compression": "zstd",
        "encrypted": True,
        "format": "mongodump-archive",
        "archive": {
            "bytes": 6000,
            "format_version": "0.1",
            "server_version": "7.0.5",
            "tool_version": "100.9.4",
            "concurrent_collections": 4,
        },
        "prelude": [
            {"namespace": "app.users", "type": "collection", "indexes": ["_id_", "email_1"]},
            {"namespace": "app.v", "type": None, "indexes": []},
        ],
        "namespaces": {
            "app.users": {"documents": 10, "bytes": 900, "crc_ok": True},
            "app.orders": {"documents": 3, "bytes": 120, "crc_ok": True},
        },
        "oplog": {
            "entries": 42,
            "first_ts": {"t": 1715911200, "i": 1},
            "last_ts": {"t": 1715911202, "i": 7},
        },
        "consistent_at": "2024-05-17T02:00:02Z",
    },
    "locks": {"lock": {"mode": "COMPLIANCE", "retain_until": "2024-06-16T02:00:00Z"}, "none": None},
    "prune_real": {
        "status": "success",
        "dry_run": False,
        "policy": {"last": 2, "hourly": 0, "daily": 7, "weekly": 0, "monthly": 0, "yearly": 0},
        "kept": [
            {
                "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
                "state": "complete",
                "complete": True,
                "reasons": ["last #1", "daily #1"],
            },
            {
                "key": "backups/nightly/b",
                "state": "unreadable",
                "complete": False,
                "reasons": ["unreadable manifest: bad json"],
            },
            {
                "key": "backups/nightly/c",
                "state": "complete",
                "complete": True,
                "reasons": ["locked until 2024-06-01T00:00:00Z"],
            },
        ],
        "deleted": [
            {"key": "backups/nightly/d", "state": "complete", "reason": "outside the policy"},
            {
                "key": "backups/nightly/e",
                "state": "incomplete",
                "reason": "incomplete, older than 24h",
            },
        ],
        "unreadable": [{"key": "backups/nightly/b", "problem": "bad json"}],
        "counts": {"kept": 3, "deleted": 2},
    },
    "prune_dry_run": {
        "status": "success",
        "dry_run": True,
        "policy": {"last": 2, "hourly": 0, "daily": 7, "weekly": 0, "monthly": 0, "yearly": 0},
        "kept": [
            {
                "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
                "state": "complete",
                "complete": True,
                "reasons": ["last #1", "daily #1"],
            },
            {
                "key": "backups/nightly/b",
                "state": "unreadable",
                "complete": False,
                "reasons": ["unreadable manifest: bad json"],
            },
            {
                "key": "backups/nightly/c",
                "state": "complete",
                "complete": True,
                "reasons": ["locked until 2024-06-01T00:00:00Z"],
            },
        ],
        "would_delete": [
            {"key": "backups/nightly/d", "state": "complete", "reason": "outside the policy"},
            {
                "key": "backups/nightly/e",
                "state": "incomplete",
                "reason": "incomplete, older than 24h",
            },
        ],
        "unreadable": [{"key": "backups/nightly/b", "problem": "bad json"}],
        "counts": {"kept": 3, "would_delete": 2},
    },
    "prune_real_locks": {
        "status": "success",
        "dry_run": False,
        "policy": {"last": 2, "hourly": 0, "daily": 7, "weekly": 0, "monthly": 0, "yearly": 0},
        "kept": [
            {
                "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
                "state": "complete",
                "complete": True,
                "reasons": ["last #1", "daily #1"],
                "lock": {"mode": "COMPLIANCE", "retain_until": "2024-06-16T02:00:00Z"},
            },
            {
                "key": "backups/nightly/b",
                "state": "unreadable",
                "complete": False,
                "reasons": ["unreadable manifest: bad json"],
                "lock": None,
            },
            {
                "key": "backups/nightly/c",
                "state": "complete",
                "complete": True,
                "reasons": ["locked until 2024-06-01T00:00:00Z"],
                "lock": {"mode": "COMPLIANCE", "retain_until": "2024-06-16T02:00:00Z"},
            },
        ],
        "deleted": [
            {"key": "backups/nightly/d", "state": "complete", "reason": "outside the policy"},
            {
                "key": "backups/nightly/e",
                "state": "incomplete",
                "reason": "incomplete, older than 24h",
            },
        ],
        "unreadable": [{"key": "backups/nightly/b", "problem": "bad json"}],
        "counts": {"kept": 3, "deleted": 2, "locked": 1, "extended": 2},
        "locked": ["backups/nightly/c"],
        "extended": [
            {
                "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
                "from": {"mode": "COMPLIANCE", "retain_until": "2024-06-16T02:00:00Z"},
                "to": {"mode": "COMPLIANCE", "retain_until": "2024-07-01T00:00:00.250000Z"},
            },
            {
                "key": "backups/nightly/f",
                "from": None,
                "to": {"mode": "COMPLIANCE", "retain_until": "2024-07-01T00:00:00.250000Z"},
            },
        ],
    },
    "prune_dry_run_locks": {
        "status": "success",
        "dry_run": True,
        "policy": {"last": 2, "hourly": 0, "daily": 7, "weekly": 0, "monthly": 0, "yearly": 0},
        "kept": [
            {
                "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
                "state": "complete",
                "complete": True,
                "reasons": ["last #1", "daily #1"],
                "lock": {"mode": "COMPLIANCE", "retain_until": "2024-06-16T02:00:00Z"},
            },
            {
                "key": "backups/nightly/b",
                "state": "unreadable",
                "complete": False,
                "reasons": ["unreadable manifest: bad json"],
                "lock": None,
            },
            {
                "key": "backups/nightly/c",
                "state": "complete",
                "complete": True,
                "reasons": ["locked until 2024-06-01T00:00:00Z"],
                "lock": {"mode": "COMPLIANCE", "retain_until": "2024-06-16T02:00:00Z"},
            },
        ],
        "would_delete": [
            {"key": "backups/nightly/d", "state": "complete", "reason": "outside the policy"},
            {
                "key": "backups/nightly/e",
                "state": "incomplete",
                "reason": "incomplete, older than 24h",
            },
        ],
        "unreadable": [{"key": "backups/nightly/b", "problem": "bad json"}],
        "counts": {"kept": 3, "would_delete": 2, "locked": 1, "would_extend": 2},
        "locked": ["backups/nightly/c"],
        "would_extend": [
            {
                "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
                "from": {"mode": "COMPLIANCE", "retain_until": "2024-06-16T02:00:00Z"},
                "to": {"mode": "COMPLIANCE", "retain_until": "2024-07-01T00:00:00.250000Z"},
            },
            {
                "key": "backups/nightly/f",
                "from": None,
                "to": {"mode": "COMPLIANCE", "retain_until": "2024-07-01T00:00:00.250000Z"},
            },
        ],
    },
    "prune_nothing": {
        "status": "success",
        "dry_run": False,
        "policy": {"last": 0, "hourly": 0, "daily": 0, "weekly": 0, "monthly": 0, "yearly": 0},
        "kept": [],
        "deleted": [],
        "unreadable": [],
        "counts": {"kept": 0, "deleted": 0},
    },
    "drill": {
        "status": "passed",
        "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
        "name": "nightly",
        "target_hosts": ["scratch:27017"],
        "scratch_prefix": "drill_ab12_",
        "rto_s": 12.345,
        "mb_per_s": 0.0,
        "size": 1234,
        "phases_s": {"verify": 1.5, "restore": 9.25, "check": 1.595},
        "sample": {"size": 5, "seed": 7},
        "collections": {
            "app.users": {"documents": 10, "indexes": 2, "sampled": 5},
            "app.orders": {"documents": 3, "indexes": 1, "sampled": 3},
        },
        "documents": 13,
        "dropped_leftovers": ["drill_old_app"],
        "scratch_dropped": True,
    },
    "drill_notified": {
        "status": "passed",
        "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
        "name": "nightly",
        "target_hosts": ["scratch:27017"],
        "scratch_prefix": "drill_ab12_",
        "rto_s": 12.345,
        "mb_per_s": 0.0,
        "size": 1234,
        "phases_s": {"verify": 1.5, "restore": 9.25, "check": 1.595},
        "sample": {"size": 5, "seed": 7},
        "collections": {
            "app.users": {"documents": 10, "indexes": 2, "sampled": 5},
            "app.orders": {"documents": 3, "indexes": 1, "sampled": 3},
        },
        "documents": 13,
        "dropped_leftovers": ["drill_old_app"],
        "scratch_dropped": True,
        "notification": {"sent": False, "error": "no mail"},
    },
    "restore_key": {
        "status": "success",
        "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
        "file": None,
        "target_hosts": ["t:27017"],
        "namespaces": {"app.users": 10, "app.orders": 3},
        "documents": 13,
        "size": 1234,
        "sha256": "abababababababababababababababababababababababababababababababab",
        "sha256_verified": True,
        "dry_run": False,
        "backup_status": "complete",
        "warnings": [],
        "oplog_replay": True,
        "oplog": {
            "entries": 42,
            "first_ts": {"t": 1715911200, "i": 1},
            "last_ts": {"t": 1715911202, "i": 7},
        },
        "consistent_at": "2024-05-17T02:00:02Z",
    },
    "restore_dry_run_partial": {
        "status": "dry_run",
        "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
        "file": None,
        "target_hosts": ["t:27017", "u:27018"],
        "namespaces": {"app.users": 10, "app.orders": None},
        "documents": None,
        "size": 99,
        "sha256": "abababababababababababababababababababababababababababababababab",
        "sha256_verified": True,
        "dry_run": True,
        "existing": ["app.users"],
        "backup_status": "partial",
        "warnings": ["failed: app.broken"],
        "oplog_replay": False,
    },
    "error_config": {
        "error": {
            "code": "CONFIG_ERROR",
            "message": "Invalid configuration: MONGO_URI is not set; BACKUP_NAME must be text",
            "timestamp": "2024-05-17T02:00:03.123Z",
            "details": {"problems": ["MONGO_URI is not set", "BACKUP_NAME must be text"]},
        }
    },
    "error_usage": {
        "error": {
            "code": "CONFIG_ERROR",
            "message": "Invalid configuration: verify needs a KEY, --latest or --file PATH",
            "timestamp": "2024-05-17T02:00:03.123Z",
            "details": {"problems": ["verify needs a KEY, --latest or --file PATH"]},
        }
    },
    "error_dump": {
        "error": {
            "code": "DUMP_ERROR",
            "message": "mongodump exited 1",
            "timestamp": "2024-05-17T02:00:03.123Z",
            "details": {"exit_code": 1, "stderr": ["x"]},
        }
    },
    "error_plain": {
        "error": {
            "code": "BACKUP_ERROR",
            "message": "something failed",
            "timestamp": "2024-05-17T02:00:03.123Z",
            "details": {},
        }
    },
    "error_partial": {
        "error": {
            "code": "PARTIAL_BACKUP",
            "message": "Backup incomplete",
            "timestamp": "2024-05-17T02:00:03.123Z",
            "details": {
                "backup": {
                    "key": "backups/nightly/nightly-2024-05-17T02-00-00Z.archive.gz",
                    "status": "partial",
                }
            },
        }
    },
    "error_timeout": {
        "error": {
            "code": "TIMEOUT",
            "message": "took too long",
            "timestamp": "2024-05-17T02:00:03.123Z",
            "details": {"budget_s": 1.5},
        }
    },
    "error_identity": {
        "error": {
            "code": "VERIFY_ERROR",
            "message": "the archive is age-encrypted and no identity to decrypt it is configured: set AGE_IDENTITY",  # noqa: E501
            "timestamp": "2024-05-17T02:00:03.123Z",
            "details": {"reason": "no identity configured"},
        }
    },
    "error_exit_codes": {
        "error_config": 2,
        "error_usage": 2,
        "error_dump": 1,
        "error_plain": 1,
        "error_partial": 3,
        "error_timeout": 1,
        "error_identity": 1,
    },
    "restore_file": {
        "status": "success",
        "key": None,
        "file": "/tmp/x.archive",
        "target_hosts": ["t:27017"],
        "namespaces": {},
        "documents": 0,
        "size": 5,
        "sha256": "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
        "sha256_verified": False,
        "dry_run": False,
        "backup_status": "complete",
        "warnings": [],
        "oplog_replay": False,
    },
}


def _json_types_only(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_types_only(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_types_only(item) for item in value)
    return value is None or isinstance(value, str | int | float | bool)


def test_every_document_is_pinned() -> None:
    assert set(cases()) == set(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_document_keeps_its_keys_order_and_values(name: str) -> None:
    document = cases()[name]

    assert json.dumps(document, sort_keys=False) == json.dumps(EXPECTED[name], sort_keys=False)
    # Plain JSON values only (lists, not tuples): what a script gets back from json.loads.
    assert _json_types_only(document)
