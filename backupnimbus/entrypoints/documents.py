"""The JSON documents the CLI prints and the Lambda handler returns, all of them here: the
backup (and job) result, the list, verify, prune, drill and restore results, and the parts they
share (store, lock, oplog, notification).

Result models are unstructured by the shared converter (backupnimbus.conversion: times as ISO
8601 with Z) wherever a document shows a model as it is; where a document names or nests things
its own way (a namespace as a key, `bytes_read` as `bytes`), the mapping is written out, since
the document's shape is what scripts read and must not follow a model's renaming.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from backupnimbus.conversion import iso_time, make_converter
from backupnimbus.domain.manifest_codec import manifest_document

if TYPE_CHECKING:
    from backupnimbus.domain.backup_job import JobResult
    from backupnimbus.domain.list_backups import BackupRecord
    from backupnimbus.domain.models import BackupResult, NotificationOutcome
    from backupnimbus.domain.oplog import OplogWindow
    from backupnimbus.domain.prune_backups import PruneResult
    from backupnimbus.domain.restore_backup import RestoreResult
    from backupnimbus.domain.restore_drill import DrillResult
    from backupnimbus.domain.verify_backup import CheckedArchive, VerificationReport
    from backupnimbus.entrypoints.config import Config
    from backupnimbus.ports.object_lock import Lock

_CONVERTER = make_converter()


def store_document(config: Config) -> dict[str, Any]:
    """Which store a command worked on, and where in it: a result must say where the backups
    are, so that a backup written to an unexpected place is noticed on the first run."""
    backend = config.storage_backend or ("s3" if config.bucket else "local")
    prefix = config.backup_prefix
    if backend == "s3":
        location = f"s3://{config.bucket}/{prefix}"
    elif backend == "local":
        location = os.path.join(os.path.abspath(config.local_backup_dir), prefix)
    else:
        location = prefix  # a plugin's store: the key prefix is what this configuration knows
    return {"backend": backend, "location": location}


def lock_document(lock: Lock | None) -> dict[str, Any] | None:
    """An Object Lock as results show it (mode, retain_until); None when there is none."""
    if lock is None:
        return None
    document: dict[str, Any] = _CONVERTER.unstructure(lock)
    return document


def notification_document(outcome: NotificationOutcome) -> dict[str, Any]:
    document: dict[str, Any] = _CONVERTER.unstructure(outcome)
    return document


def lock_line(lock: dict[str, Any] | None) -> str:
    if lock is None:
        return "-"
    return f"{lock['mode'].lower()} until {lock['retain_until']}"


def store_line(document: dict[str, Any]) -> str | None:
    """The human form of a document's store, for the renderers."""
    store = document.get("store")
    return None if store is None else f"{store['backend']} {store['location']}"


# -- backup ------------------------------------------------------------------------------------


def backup_result_document(result: BackupResult) -> dict[str, Any]:
    document: dict[str, Any] = {
        "status": "success" if result.manifest.complete else "partial",
        "key": result.manifest.key,
        "manifest_key": result.manifest_key,
        "size": result.manifest.size,
        "sha256": result.manifest.sha256,
        "duration_s": result.manifest.duration_s,
        "manifest": manifest_document(result.manifest),
    }
    if result.manifest.object_lock is not None:
        document["lock"] = lock_document(result.manifest.object_lock)
    if result.notification is not None:
        document["notification"] = notification_document(result.notification)
    return document


def job_result_document(job: JobResult) -> dict[str, Any]:
    document = backup_result_document(job.backup)
    if job.retention is not None:
        document["retention"] = prune_result_document(job.retention)
    if job.retention_error is not None:
        document["retention"] = {"status": "failed", "error": job.retention_error}
    return document


# -- list --------------------------------------------------------------------------------------


def list_document(
    records: Sequence[BackupRecord], *, config: Config, name: str | None
) -> dict[str, Any]:
    """The backups of set `name` (None: every set), newest first."""
    locks = config.object_lock_mode is not None
    return {
        "store": store_document(config),
        "set": name,
        "backups": [record_document(record, locks=locks) for record in records],
    }


def record_document(record: BackupRecord, *, locks: bool = False) -> dict[str, Any]:
    """`locks`: Object Lock is in use, so each backup's lock is shown (None: unlocked)."""
    manifest = record.manifest
    document = {
        "name": record.name,
        "timestamp": iso_time(record.timestamp),
        "key": record.key,
        "size": record.size,
        "sha256": manifest.sha256 if manifest else None,
        "compressed": record.compressed,
        "compression": record.compression,
        "encrypted": record.encrypted,
        "complete": record.complete,
        "status": record.state,
        "problem": record.manifest_problem,
        "warnings": list(manifest.warnings) if manifest else [],
        "namespaces": dict(manifest.namespaces) if manifest and manifest.namespaces else None,
        "format": manifest.format if manifest else None,
    }
    if locks:
        document["lock"] = lock_document(record.lock)
    return document


# -- verify ------------------------------------------------------------------------------------


def verified_document(report: VerificationReport) -> dict[str, Any]:
    """A partial backup is as intact as a complete one, but not a whole backup: it verifies
    with status "verified-partial", its warnings, and exit code 3 (as its backup run did)."""
    manifest = report.manifest
    document = {
        "status": "verified" if manifest.complete else "verified-partial",
        "key": report.key,
        "manifest_sha256": manifest.sha256,
        **checked_document(report.checked),
    }
    if not manifest.complete:
        document.update(warnings=list(manifest.warnings), exit_code=3)
    return document


def checked_document(checked: CheckedArchive) -> dict[str, Any]:
    archive = checked.archive
    document = {
        "size": checked.size,
        "sha256": checked.sha256,
        "compressed": checked.compression != "none",
        "compression": checked.compression,
        "encrypted": checked.encrypted,
        "format": checked.format,
    }
    if archive is None:
        # Another format than a mongodump archive: its size and sha256 are what was checked.
        return {**document, "archive": None, "prelude": [], "namespaces": {}}
    return {
        **document,
        "archive": {
            "bytes": archive.bytes_read,
            "format_version": archive.header.format_version,
            "server_version": archive.header.server_version,
            "tool_version": archive.header.tool_version,
            "concurrent_collections": archive.header.concurrent_collections,
        },
        "prelude": [
            {"namespace": e.namespace, "type": e.collection_type, "indexes": list(e.indexes)}
            for e in archive.prelude
        ],
        "namespaces": {
            stats.namespace: {
                "documents": stats.documents,
                "bytes": stats.bytes,
                "crc_ok": stats.crc_ok,
            }
            for stats in archive.namespaces
        },
        **oplog_document(archive.oplog),
    }


def oplog_document(oplog: OplogWindow | None) -> dict[str, Any]:
    """The oplog section's window (entries, first_ts, last_ts) and the time a replay makes the
    data consistent to; nothing for an archive dumped without --oplog."""
    if oplog is None:
        return {}
    at = oplog.consistent_at
    return {
        "oplog": _CONVERTER.unstructure(oplog),
        "consistent_at": iso_time(at) if at else None,
    }


# -- prune -------------------------------------------------------------------------------------


def prune_result_document(result: PruneResult) -> dict[str, Any]:
    """The plan and what became of it. A dry run lists `would_delete`, never `deleted`, so a
    script reading the document cannot mistake a plan for a deletion."""
    gone = "would_delete" if result.dry_run else "deleted"
    document = {
        "status": "success",
        "dry_run": result.dry_run,
        "policy": result.policy.counts(),
        "kept": [
            {
                "key": kept.key,
                "state": kept.state,
                "complete": kept.complete,
                "reasons": list(kept.reasons),
            }
            for kept in result.kept
        ],
        gone: [
            {"key": gone.key, "state": gone.state, "reason": gone.reason} for gone in result.deleted
        ],
        "unreadable": [{"key": key, "problem": problem} for key, problem in result.unreadable],
        "counts": {"kept": len(result.kept), gone: len(result.deleted)},
    }
    if result.locks_in_use:
        _add_locks(document, result)
    return document


def _add_locks(document: dict[str, Any], result: PruneResult) -> None:
    """With Object Lock: each kept backup's lock, the ones kept only for their lock, and the
    locks extended (`would_extend` on a dry run)."""
    for entry, kept in zip(document["kept"], result.kept, strict=True):
        entry["lock"] = lock_document(kept.lock)
    extended = "would_extend" if result.dry_run else "extended"
    document["locked"] = [kept.key for kept in result.locked]
    document[extended] = [
        {"key": item.key, "from": lock_document(item.previous), "to": lock_document(item.lock)}
        for item in result.extended
    ]
    document["counts"].update({"locked": len(result.locked), extended: len(result.extended)})


# -- drill -------------------------------------------------------------------------------------


def drill_document(result: DrillResult) -> dict[str, Any]:
    document: dict[str, Any] = {
        "status": "passed",
        "key": result.key,
        "name": result.name,
        "target_hosts": list(result.target_hosts),
        "scratch_prefix": result.scratch_prefix,
        "rto_s": result.rto_s,
        "mb_per_s": result.mb_per_s,
        "size": result.size,
        "phases_s": {
            "verify": result.verify_s,
            "restore": result.restore_s,
            "check": result.check_s,
        },
        "sample": {"size": result.sample_size, "seed": result.seed},
        "collections": {
            c.namespace: {"documents": c.documents, "indexes": c.indexes, "sampled": c.sampled}
            for c in result.collections
        },
        "documents": sum(c.documents for c in result.collections),
        "dropped_leftovers": list(result.dropped_leftovers),
        "scratch_dropped": True,
    }
    if result.notification is not None:
        document["notification"] = notification_document(result.notification)
    return document


# -- restore -----------------------------------------------------------------------------------


def restore_document(result: RestoreResult) -> dict[str, Any]:
    counts = list(result.namespaces.values())
    return {
        "status": "dry_run" if result.dry_run else "success",
        "key": result.key,
        "file": result.file,
        "target_hosts": list(result.target_hosts),
        "namespaces": dict(result.namespaces),
        "documents": None if None in counts else sum(c for c in counts if c is not None),
        "size": result.size,
        "sha256": result.sha256,
        "sha256_verified": result.verified,
        "dry_run": result.dry_run,
        **({"existing": list(result.existing)} if result.dry_run else {}),
        # A partial backup restores what it holds; what its dump left out is not in it.
        "backup_status": "partial" if result.warnings else "complete",
        "warnings": list(result.warnings),
        "oplog_replay": result.oplog_replay,
        **oplog_document(result.oplog),
    }
