"""Backup metrics as CloudWatch Embedded Metric Format: one JSON log line that CloudWatch Logs
turns into metrics, with no API call and no extra permission."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

NAMESPACE = "BackupNimbus"
log = logging.getLogger("backupnimbus.metrics")


def _emf_record(
    *, name: str, at: datetime, units: dict[str, str], values: dict[str, Any]
) -> dict[str, Any]:
    """One EMF record of the backup set `name`: `units` names each metric and its unit."""
    return {
        "_aws": {
            "Timestamp": int(at.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["BackupName"]],
                    "Metrics": [{"Name": key, "Unit": unit} for key, unit in units.items()],
                }
            ],
        },
        "BackupName": name,
        **values,
    }


def backup_metric_fields(
    *, name: str, succeeded: bool, size: int, duration_s: float, at: datetime
) -> dict[str, Any]:
    """The members of one EMF record; the alarms in deploy/template.yaml read these metrics."""
    return _emf_record(
        name=name,
        at=at,
        units={"BackupSuccess": "Count", "BackupBytes": "Bytes", "BackupDuration": "Seconds"},
        values={
            "BackupSuccess": 1 if succeeded else 0,
            "BackupBytes": size,
            "BackupDuration": round(duration_s, 3),
        },
    )


def emit_backup_metric(
    *, name: str, succeeded: bool, size: int, duration_s: float, at: datetime
) -> None:
    fields = backup_metric_fields(
        name=name, succeeded=succeeded, size=size, duration_s=duration_s, at=at
    )
    from backupnimbus.entrypoints.logging import EMF_FIELD

    log.info("backup metric", extra={EMF_FIELD: fields})


def drill_metric_fields(
    *, name: str, succeeded: bool, seconds: float, at: datetime
) -> dict[str, Any]:
    """One EMF record per restore drill; the "no successful drill" alarm reads it."""
    return _emf_record(
        name=name,
        at=at,
        units={"RestoreDrillSucceeded": "Count", "RestoreDrillSeconds": "Seconds"},
        values={
            "RestoreDrillSucceeded": 1 if succeeded else 0,
            "RestoreDrillSeconds": round(seconds, 3),
        },
    )


def emit_drill_metric(*, name: str, succeeded: bool, seconds: float, at: datetime) -> None:
    from backupnimbus.entrypoints.logging import EMF_FIELD

    fields = drill_metric_fields(name=name, succeeded=succeeded, seconds=seconds, at=at)
    log.info("restore drill metric", extra={EMF_FIELD: fields})
