"""What a dump backend reports besides its stream (its warnings, its tool's version) goes into
the manifest: a report the manifest cannot be read back with must fail the run, not store a
backup that list calls unreadable and that nothing can verify, restore or prune."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from backupnimbus.adapters.compression import FastCompressor
from backupnimbus.adapters.memory import FakeClock, FakeDumpRunner, InMemoryObjectStore
from backupnimbus.domain.list_backups import ListBackups
from backupnimbus.domain.models import BackupRequest, Compression, SourceInfo
from backupnimbus.domain.run_backup import BackupSettings, RunBackup
from backupnimbus.errors import DumpFailedError
from backupnimbus.ports.compressor import NONE

T0 = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
OTHER = "sqlite3-database"
SQLITE = b"SQLite format 3\x00" + bytes(4096)


@attrs.define
class _Runner(FakeDumpRunner):
    version: object = "sqlite 3.45"

    def describe_tool(self) -> str:
        return self.version  # type: ignore[return-value]


def _run(store: InMemoryObjectStore, dumps: FakeDumpRunner) -> None:
    RunBackup(
        dumps=dumps,
        store=store,
        clock=FakeClock(T0),
        settings=BackupSettings(
            prefix="backups/",
            source=SourceInfo(hosts=()),
            tool_version="0.1.0",
            archive_format=OTHER,
        ),
        compressor=FastCompressor(),
    ).run(request=BackupRequest(name="shop", compression=Compression(NONE)))


@pytest.mark.parametrize("warnings", [(1,), (None,)], ids=["number", "null"])
def test_a_backend_reporting_warnings_that_are_no_text_stores_nothing(
    warnings: tuple[object, ...],
) -> None:
    store = InMemoryObjectStore()
    dumps = _Runner(data=SQLITE, counts={"t": 1}, warnings=warnings)  # type: ignore[arg-type]

    with pytest.raises(DumpFailedError, match="warning") as failed:
        _run(store, dumps)

    assert failed.value.exit_code == 1
    assert store.objects == {}
    assert ListBackups(store=store, prefix="backups/").run(name="shop") == []


@pytest.mark.parametrize("version", [None, 3], ids=["null", "number"])
def test_a_backend_whose_tool_version_is_no_text_stores_nothing(version: object) -> None:
    store = InMemoryObjectStore()

    with pytest.raises(DumpFailedError, match="version") as failed:
        _run(store, _Runner(data=SQLITE, counts={"t": 1}, version=version))

    assert failed.value.exit_code == 1
    assert store.objects == {}
