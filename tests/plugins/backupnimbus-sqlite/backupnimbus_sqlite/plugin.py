"""The entry point: registers the `sqlite` dump backend."""

from __future__ import annotations

from typing import Any

from backupnimbus_sqlite.backend import FORMAT, SqliteDumpRunner, SqliteRestorer


def register(registry: Any) -> None:
    registry.add_dump_backend(
        "sqlite",
        SqliteDumpRunner.from_config,
        archive_format=FORMAT,
        restorer=SqliteRestorer.from_config,
    )
