"""Shows a transfer's progress on a terminal while a backup, verify or restore streams: bytes in
binary units (as `list` shows sizes), the rate, and the percent and time left when the size is
known (downloads)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, BinaryIO, TextIO

from backupnimbus.errors import BackupNimbusError
from backupnimbus.ports.object_store import ObjectStore, Readable, StoredObject

STEP = 1024 * 1024
"""The bar advances at least every STEP bytes, however large the reads (8 MiB upload parts)."""

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def binary_size(size: float) -> str:
    """e.g. "512 B", "1.5 MiB": the units of `list`."""
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class ProgressReader:
    """Passes a stream through and advances a progress bar by what was read."""

    def __init__(self, source: Any, bar: Any) -> None:
        self._source = source
        self._bar = bar

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0 or size <= STEP:
            chunk: bytes = self._source.read(size)
            self._bar.update(len(chunk))
            return chunk
        # A large read in STEP pieces, each shown as it arrives; the caller still gets up to
        # `size` bytes, and b"" only at the end.
        pieces: list[bytes] = []
        have = 0
        while have < size:
            piece: bytes = self._source.read(min(STEP, size - have))
            if not piece:
                break
            pieces.append(piece)
            have += len(piece)
            self._bar.update(len(piece))
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def __getattr__(self, name: str) -> Any:
        # Whatever else the wrapped stream offers (close, namespaces, ...) stays available.
        return getattr(self._source, name)


_KNOWN = "{desc}: {percentage:3.0f}%|{bar}| {done} / {size}  {speed}  ETA {remaining}"
_UNKNOWN = "{desc}: {done}  {speed}  {elapsed}"


def progress_bar(*, label: str, out: TextIO, total: int | None = None) -> Any:
    import shutil

    # A terminal that reports a zero size (a bare pty) would otherwise hide the bar.
    size = shutil.get_terminal_size(fallback=(80, 24))
    return _bar_class()(
        total=total, desc=label, unit="B", file=out, leave=False, ncols=size.columns,
        nrows=size.lines, mininterval=0.5, bar_format=_KNOWN if total else _UNKNOWN,
    )  # fmt: skip


_BAR: list[type] = []


def _bar_class() -> type:
    if not _BAR:
        from tqdm import tqdm  # only paid for when a terminal is watching

        class BinaryBar(tqdm):  # type: ignore[misc]
            @property
            def format_dict(self) -> dict[str, Any]:
                fields: dict[str, Any] = super().format_dict
                elapsed = fields.get("elapsed") or 0
                rate = fields.get("rate") or (fields["n"] / elapsed if elapsed else 0)
                fields["done"] = binary_size(fields["n"])
                fields["size"] = binary_size(fields["total"] or 0)
                fields["speed"] = f"{binary_size(rate)}/s"
                return fields

        _BAR.append(BinaryBar)
    return _BAR[0]


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
            progress_bar(label="download", out=self._out, total=self._size_of(key)) as bar,
        ):
            yield ProgressReader(stream, bar)  # type: ignore[misc]

    def _size_of(self, key: str) -> int | None:
        """The object's size, for the percent and the time left; None when the store will not
        say (the bar then shows bytes and rate only)."""
        try:
            return next(
                (o.size for o in self._inner.list_objects(prefix=key) if o.key == key), None
            )
        except BackupNimbusError:
            return None

    def list_objects(self, *, prefix: str) -> Iterator[StoredObject]:
        return self._inner.list_objects(prefix=prefix)

    def delete(self, *, key: str) -> None:
        self._inner.delete(key=key)
