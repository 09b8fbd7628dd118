"""A backup of a dump backend's own format (not a mongodump archive), as the use case runs it,
for tests of what such a backend may and may not make the run store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backupnimbus.adapters.compression import FastCompressor
from backupnimbus.adapters.memory import FakeClock
from backupnimbus.domain.models import SourceInfo
from backupnimbus.domain.run_backup import BackupSettings, RunBackup

T0 = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
OTHER = "sqlite3-database"
SQLITE = b"SQLite format 3\x00" + bytes(4096)
"""The first page of an empty SQLite database: what the SQLite plugin's dump streams."""


def backend_backup(*, dumps: Any, store: Any, archive_format: str = OTHER) -> RunBackup:
    """RunBackup of `dumps` into `store`, at T0, for a backend writing `archive_format`."""
    return RunBackup(
        dumps=dumps,
        store=store,
        clock=FakeClock(T0),
        settings=BackupSettings(
            prefix="backups/",
            source=SourceInfo(hosts=()),
            tool_version="0.1.0",
            archive_format=archive_format,
        ),
        compressor=FastCompressor(),
    )
