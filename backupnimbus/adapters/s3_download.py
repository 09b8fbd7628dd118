"""Reading an S3 object that survives a connection dropped mid-way."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError

from backupnimbus.errors import StorageFailedError

log = logging.getLogger(__name__)


class ResumingBody(io.RawIOBase):
    """A GetObject body that, when the connection drops mid-way, asks for the rest (a ranged
    GET of the same version, If-Match its ETag) instead of failing the whole read."""

    def __init__(
        self,
        response: Any,
        *,
        reopen: Callable[[int, str], Any],
        give_up: Callable[[Exception], StorageFailedError],
        resumes: int,
    ) -> None:
        super().__init__()
        self._body = response["Body"]
        self._etag: str | None = response.get("ETag")
        self._reopen = reopen
        self._give_up = give_up
        self._resumes_left = resumes
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while True:
            try:
                chunk = self._body.read(len(view))
            except (BotoCoreError, OSError) as exc:
                self._resume(exc)
                continue
            view[: len(chunk)] = chunk
            self._position += len(chunk)
            return len(chunk)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()

    def _resume(self, exc: Exception) -> None:
        if self._resumes_left <= 0 or self._etag is None:
            raise self._give_up(exc) from exc
        self._resumes_left -= 1
        log.warning(
            "GetObject's body broke off; resuming",
            extra={"offset": self._position, "error": type(exc).__name__},
        )
        with contextlib.suppress(Exception):
            self._body.close()
        # If-Match: the rest must come from the very object the first part came from.
        self._body = self._reopen(self._position, self._etag)["Body"]
