"""What a dump backend reports besides its stream (its warnings, its tool's version) goes into
the manifest: a report the manifest cannot be read back with must fail the run, not store a
backup that list calls unreadable and that nothing can verify, restore or prune."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from backupnimbus.adapters.memory import FakeDumpRunner, InMemoryObjectStore
from backupnimbus.domain.list_backups import ListBackups
from backupnimbus.domain.models import BackupRequest, Compression
from backupnimbus.errors import DumpFailedError, StorageFailedError
from backupnimbus.ports.compressor import NONE
from tests.support.dump_backends import SQLITE, backend_backup


@attrs.define
class _Runner(FakeDumpRunner):
    version: object = "sqlite 3.45"

    def describe_tool(self) -> str:
        return self.version  # type: ignore[return-value]


def _run(store: InMemoryObjectStore, dumps: FakeDumpRunner) -> None:
    backend_backup(dumps=dumps, store=store).run(
        request=BackupRequest(name="shop", compression=Compression(NONE))
    )


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


class _BrokenReport:
    """A dump whose stream ends whole, then whose report `failing` fails with its own error."""

    def __init__(self, dump: Any, failing: str) -> None:
        self._dump = dump
        self._failing = failing

    def read(self, size: int, /) -> bytes:
        data: bytes = self._dump.read(size)
        return data

    def namespaces(self) -> Any:
        self._fail("namespaces")
        return self._dump.namespaces()

    def warnings(self) -> Any:
        self._fail("warnings")
        return self._dump.warnings()

    def stop(self) -> None:
        self._dump.stop()

    def _fail(self, report: str) -> None:
        if report == self._failing:
            raise RuntimeError("backend bug, password=hunter2-planted")


@attrs.define
class _FailingReports(FakeDumpRunner):
    failing: str = "namespaces"

    @contextlib.contextmanager
    def open_dump(self, *, stop: Any) -> Iterator[Any]:
        with FakeDumpRunner.open_dump(self, stop=stop) as dump:
            yield _BrokenReport(dump, self.failing)


@pytest.mark.parametrize("failing", ["namespaces", "warnings"])
def test_a_backend_report_failing_after_the_stream_is_a_dump_failure_without_its_text(
    failing: str,
) -> None:
    """As a read that fails mid-stream: DUMP_ERROR named by the error's type, nothing stored."""
    store = InMemoryObjectStore()

    with pytest.raises(DumpFailedError) as failed:
        _run(store, _FailingReports(data=SQLITE, counts={"t": 1}, failing=failing))

    assert "RuntimeError" in failed.value.message
    assert "hunter2" not in failed.value.message + repr(failed.value.details)
    assert store.objects == {}


PLANTED = "hunter2-planted"


class _BackendBug(Exception):
    """A dump backend's own error, whose text holds what it should not."""

    def __init__(self) -> None:
        super().__init__(f"cannot reach sqlite://admin:{PLANTED}@db/shop")


@attrs.define
class _FailingBackend(FakeDumpRunner):
    """A dump backend failing with its own error at `failing`: describing its tool, starting
    its dump (entering open_dump), or ending it (leaving open_dump, whatever happened inside)."""

    failing: str = "describe"

    def describe_tool(self) -> str:
        if self.failing == "describe":
            raise _BackendBug()
        return "sqlite 3.45"

    @contextlib.contextmanager
    def open_dump(self, *, stop: Any) -> Iterator[Any]:
        if self.failing == "start":
            raise _BackendBug()
        try:
            with FakeDumpRunner.open_dump(self, stop=stop) as dump:
                yield dump
        finally:
            if self.failing == "end":
                raise _BackendBug()


@pytest.mark.parametrize("failing", ["describe", "start", "end"])
def test_a_backend_failing_with_its_own_error_around_its_dump_is_a_dump_failure_without_its_text(
    failing: str,
) -> None:
    """As a read that fails mid-stream: DUMP_ERROR named by the error's type, nothing stored
    (the archive a dump that fails only on its way out already uploaded is removed)."""
    store = InMemoryObjectStore()
    dumps = _FailingBackend(data=SQLITE, counts={"t": 1}, failing=failing)

    with pytest.raises(DumpFailedError) as failed:
        _run(store, dumps)

    document = json.dumps(failed.value.to_document())
    assert failed.value.code == "DUMP_ERROR"
    assert failed.value.exit_code == 1
    assert "_BackendBug" in failed.value.message
    assert PLANTED not in document
    assert "admin" not in document
    assert store.objects == {}
    assert dumps.closed == (1 if failing == "end" else 0), "a dump started is ended"


@attrs.define
class _FailingWrites(InMemoryObjectStore):
    """A store whose streamed write fails with a StorageFailedError after the first chunk."""

    def put_stream(self, *, key: str, stream: Any) -> None:
        stream.read(1024)
        raise StorageFailedError("fake store lost the connection", details={"key": key})


def test_a_backend_failing_on_its_way_out_of_a_failed_run_does_not_hide_why_the_run_failed() -> (
    None
):
    store = _FailingWrites()

    with pytest.raises(StorageFailedError, match="lost the connection") as failed:
        _run(store, _FailingBackend(data=SQLITE, counts={"t": 1}, failing="end"))

    assert PLANTED not in json.dumps(failed.value.to_document())
    assert store.objects == {}
