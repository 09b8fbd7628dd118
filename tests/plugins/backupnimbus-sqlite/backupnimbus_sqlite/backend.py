"""A SQLite database, dumped with the online backup API and restored to a file.

The dump copies the database into a private temporary file (the backup API gives a consistent
copy while others write), unlinks it at once and streams it from the open descriptor: nothing is
left on disk, however the process ends.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from backupnimbus.errors import DumpFailedError, RestoreFailedError, UsageInvalidError
from backupnimbus.ports.archive_restorer import RestoreOptions, RestoreReport
from backupnimbus.stop_signal import StopSignal

FORMAT = "sqlite3-database"
"""What the manifest records: the bytes are one SQLite database file."""
_PAGES = 1024
_CHUNK = 1024 * 1024


def _setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise UsageInvalidError([f"DUMP_BACKEND=sqlite needs {name}"])
    return value


def _tables(connection: sqlite3.Connection) -> dict[str, int]:
    names = [row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    )]  # fmt: skip
    return {
        name: connection.execute(
            f'SELECT count(*) FROM "{name.replace(chr(34), chr(34) * 2)}"'  # noqa: S608 - quoted
        ).fetchone()[0]
        for name in names
    }


class SqliteDump:
    """The copied database, read from its unlinked file."""

    def __init__(self, file: IO[bytes], counts: Mapping[str, int]) -> None:
        self._file = file
        self._counts = dict(counts)
        self._stopped = threading.Event()

    def read(self, size: int, /) -> bytes:
        if self._stopped.is_set():
            raise DumpFailedError("The SQLite dump was stopped", details={"reason": "stopped"})
        return self._file.read(size)

    def namespaces(self) -> Mapping[str, int]:
        return self._counts

    def warnings(self) -> tuple[str, ...]:
        return ()

    def stop(self) -> None:
        self._stopped.set()


class SqliteDumpRunner:
    def __init__(self, path: Path) -> None:
        self._path = path

    @classmethod
    def from_config(cls, config: Any) -> SqliteDumpRunner:
        return cls(Path(_setting("SQLITE_PATH")))

    def describe_tool(self) -> str:
        return f"sqlite {sqlite3.sqlite_version}"

    @contextlib.contextmanager
    def open_dump(self, *, stop: StopSignal) -> Iterator[SqliteDump]:
        stop.raise_if_set()
        with tempfile.TemporaryDirectory(prefix="backupnimbus-sqlite-") as scratch:
            copy = Path(scratch) / "copy.sqlite3"
            counts = self._copy(copy, stop)
            with copy.open("rb") as file:
                copy.unlink()
                dump = SqliteDump(file, counts)
                forget = stop.on_stop(dump.stop)
                try:
                    yield dump
                finally:
                    forget()

    def _copy(self, copy: Path, stop: StopSignal) -> dict[str, int]:
        # Read-only: a missing SQLITE_PATH must fail, not back up a new empty database.
        try:
            source = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise self._failed(exc) from None
        try:
            with contextlib.closing(sqlite3.connect(copy)) as target:
                source.backup(target, pages=_PAGES, progress=lambda *_: stop.raise_if_set())
                return _tables(target)
        except sqlite3.Error as exc:
            raise self._failed(exc) from None
        finally:
            source.close()

    def _failed(self, exc: sqlite3.Error) -> DumpFailedError:
        return DumpFailedError(
            f"Could not copy the SQLite database {self._path}: {exc}",
            details={"path": str(self._path), "error": str(exc)},
        )


class SqliteRestorer:
    """Writes the database to a file: beside it first, moved into place only once the stream
    ended (its sha256 checked by the core) and SQLite found the copy intact."""

    def __init__(self, target: Path) -> None:
        self._target = target

    @classmethod
    def from_config(cls, config: Any) -> SqliteRestorer:
        return cls(Path(_setting("SQLITE_RESTORE_PATH")))

    def restore(self, *, stream: Any, compressed: bool, options: RestoreOptions) -> RestoreReport:
        if options.ns_include or options.rename or options.oplog_replay:
            raise UsageInvalidError(
                ["a SQLite backup is restored whole: --ns-include, --ns-from/--ns-to and "
                 "--oplog-replay do not apply"]
            )  # fmt: skip
        if compressed:
            raise UsageInvalidError(["the SQLite restorer reads uncompressed databases only"])
        if self._target.exists() and not options.drop and not options.dry_run:
            raise RestoreFailedError(
                f"{self._target} already exists; nothing was written. Give --drop to replace it",
                details={"target": str(self._target)},
            )
        self._target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{self._target.name}.", dir=self._target.parent)
        written = Path(name)
        try:
            with os.fdopen(handle, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    out.write(chunk)
            counts = self._check(written)
            if not options.dry_run:
                written.replace(self._target)
        finally:
            written.unlink(missing_ok=True)
        return RestoreReport(
            target_hosts=(str(self._target),),
            restored={} if options.dry_run else counts,
            failures=0,
            planned={table: table for table in counts},
        )

    def existing(self, namespaces: Any) -> tuple[str, ...]:
        if not self._target.exists():
            return ()
        with contextlib.closing(sqlite3.connect(f"{self._target.resolve().as_uri()}?mode=ro",
                                                uri=True)) as db:  # fmt: skip
            return tuple(sorted(set(_tables(db)) & set(namespaces)))

    def _check(self, path: Path) -> dict[str, int]:
        try:
            with contextlib.closing(sqlite3.connect(path)) as db:
                [verdict] = db.execute("PRAGMA integrity_check").fetchone()
                if verdict != "ok":
                    raise sqlite3.DatabaseError(verdict)
                return _tables(db)
        except sqlite3.Error as exc:
            raise RestoreFailedError(
                f"The backup is not an intact SQLite database ({exc}); nothing was written",
                details={"target": str(self._target), "error": str(exc)},
            ) from None
