"""JSON documents the CLI prints and the Lambda handler returns."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from backupnimbus.domain.backup_job import JobResult
from backupnimbus.domain.manifest_codec import manifest_document
from backupnimbus.domain.models import BackupResult

if TYPE_CHECKING:
    from backupnimbus.entrypoints.config import Config
    from backupnimbus.ports.object_lock import Lock


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
    """An Object Lock as results show it; None when there is none."""
    if lock is None:
        return None
    return {
        "mode": lock.mode,
        "retain_until": lock.retain_until.isoformat().replace("+00:00", "Z"),
    }


def lock_line(lock: dict[str, Any] | None) -> str:
    if lock is None:
        return "-"
    return f"{lock['mode'].lower()} until {lock['retain_until']}"


def store_line(document: dict[str, Any]) -> str | None:
    """The human form of a document's store, for the renderers."""
    store = document.get("store")
    return None if store is None else f"{store['backend']} {store['location']}"


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
        document["notification"] = {
            "sent": result.notification.sent,
            "error": result.notification.error,
        }
    return document


def job_result_document(job: JobResult) -> dict[str, Any]:
    document = backup_result_document(job.backup)
    if job.retention is not None:
        from backupnimbus.entrypoints.commands.prune import prune_result_document

        document["retention"] = prune_result_document(job.retention)
    if job.retention_error is not None:
        document["retention"] = {"status": "failed", "error": job.retention_error}
    return document
