"""Shows bytes and rate on a terminal while a backup, verify or restore streams."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, BinaryIO, TextIO

from backupnimbus.ports.object_store import ObjectStore, Readable, StoredObject


class ProgressReader:
    """Passes a stream through and advances a progress bar by what was read."""

    def __init__(self, source: Any, bar: Any) -> None:
        self._source = source
        self._bar = bar

    def read(self, size: int = -1, /) -> bytes:
        chunk: bytes = self._source.read(size)
        self._bar.update(len(chunk))
        return chunk

    def __getattr__(self, name: str) -> Any:
        # Whatever else the wrapped stream offers (close, namespaces, ...) stays available.
        return getattr(self._source, name)


def progress_bar(*, label: str, out: TextIO, total: int | None = None) -> Any:
    import shutil

    from tqdm import tqdm  # only paid for when a terminal is watching

    # A terminal that reports a zero size (a bare pty) would otherwise hide the bar.
    size = shutil.get_terminal_size(fallback=(80, 24))
    return tqdm(
        total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024, file=out,
        leave=False, ncols=size.columns, nrows=size.lines, mininterval=0.5,
    )  # fmt: skip


class ProgressStore:
    """Wraps an ObjectStore so that streamed writes and reads show progress on `out`."""

    def __init__(self, *, inner: ObjectStore, out: TextIO) -> None:
        self._inner = inner
        self._out = out

    def put_stream(self, *, key: str, stream: Readable) -> None:
        with progress_bar(label="upload", out=self._out) as bar:
            self._inner.put_stream(key=key, stream=ProgressReader(stream, bar))

    def put_bytes(self, *, key: str, data: bytes) -> None:
        self._inner.put_bytes(key=key, data=data)

    def exists(self, *, key: str) -> bool:
        return self._inner.exists(key=key)

    @contextlib.contextmanager
    def open_read(self, *, key: str) -> Iterator[BinaryIO]:
        with (
            self._inner.open_read(key=key) as stream,
            progress_bar(label="download", out=self._out) as bar,
        ):
            yield ProgressReader(stream, bar)  # type: ignore[misc]

    def list_objects(self, *, prefix: str) -> Iterator[StoredObject]:
        return self._inner.list_objects(prefix=prefix)

    def delete(self, *, key: str) -> None:
        self._inner.delete(key=key)
