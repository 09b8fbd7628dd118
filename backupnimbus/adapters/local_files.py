"""LocalFiles on the file system this process runs on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import BinaryIO

from backupnimbus.errors import UsageInvalidError


class FileSystemFiles:
    @contextlib.contextmanager
    def open_read(self, path: str) -> Iterator[BinaryIO]:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the with block below
        except OSError as exc:
            raise UsageInvalidError([f"{path}: cannot read it ({exc.strerror})"]) from None
        with handle:
            yield handle
