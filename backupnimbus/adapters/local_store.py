"""ObjectStore on a local directory, for runs without a bucket."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from backupnimbus.errors import BackupNotFoundError, ObjectExistsError, StorageFailedError
from backupnimbus.ports.object_store import Readable, StoredObject

_CHUNK = 1024 * 1024
_PARTIAL = ".partial-"


class LocalDirectoryStore:
    """Keys map to files under `root`; a file appears only once it is complete."""

    def __init__(self, *, root: Path) -> None:
        self._root = root

    def put_stream(self, *, key: str, stream: Readable) -> None:
        with self._writing(key) as handle:
            while chunk := stream.read(_CHUNK):
                handle.write(chunk)

    def put_bytes(self, *, key: str, data: bytes) -> None:
        with self._writing(key) as handle:
            handle.write(data)

    def exists(self, *, key: str) -> bool:
        return self._path(key).is_file()

    @contextlib.contextmanager
    def open_read(self, *, key: str) -> Iterator[BinaryIO]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise BackupNotFoundError(f"No backup at {key}", details={"key": key}) from exc
        with handle:
            yield handle

    def list_objects(self, *, prefix: str) -> Iterator[StoredObject]:
        if not self._root.is_dir():
            return
        for path in sorted(self._root.rglob("*")):
            key = path.relative_to(self._root).as_posix()
            # Unfinished writes are listed too, under their own names: one a killed run left
            # behind is then an incomplete backup, which prune removes after its grace period
            # (S3 hides an unfinished upload, and its lifecycle rule removes it).
            if path.is_file() and key.startswith(prefix):
                stat = path.stat()
                yield StoredObject(
                    key=key,
                    size=stat.st_size,
                    modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
                )

    def delete(self, *, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def _path(self, key: str) -> Path:
        path = (self._root / key).resolve()
        if not path.is_relative_to(self._root.resolve()):
            raise StorageFailedError(f"Key escapes the backup directory: {key}")
        return path

    @contextlib.contextmanager
    def _writing(self, key: str) -> Iterator[BinaryIO]:
        final = self._path(key)
        if final.exists():
            raise ObjectExistsError(f"A backup already exists at {key}", details={"key": key})
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            partial = final.with_name(f"{final.name}{_PARTIAL}{secrets.token_hex(4)}")
            handle = partial.open("xb")
        except OSError as exc:
            raise self._failed(key, exc) from exc
        try:
            with handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            # link() refuses an existing name, so a racing writer can never be overwritten.
            os.link(partial, final)
        except FileExistsError as exc:
            raise ObjectExistsError(
                f"A backup already exists at {key}", details={"key": key}
            ) from exc
        except OSError as exc:
            raise self._failed(key, exc) from exc
        finally:
            partial.unlink(missing_ok=True)

    def _failed(self, key: str, exc: OSError) -> StorageFailedError:
        return StorageFailedError(
            f"Cannot write {key} under {self._root}: {exc.strerror or exc}",
            details={"key": key, "directory": str(self._root)},
        )
