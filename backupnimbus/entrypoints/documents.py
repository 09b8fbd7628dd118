"""JSON documents the CLI prints and the Lambda handler returns."""

from __future__ import annotations

from typing import Any

from backupnimbus.domain.backup_job import JobResult
from backupnimbus.domain.manifest_codec import manifest_document
from backupnimbus.domain.models import BackupResult


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
