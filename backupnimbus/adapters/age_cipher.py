"""ArchiveCipher with age (pyrage): X25519 recipients, streamed through a bounded pipe."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyrage
from pyrage import x25519

from backupnimbus.errors import (
    BackupNimbusError,
    ConfigInvalidError,
    VerificationFailedError,
    missing_identity,
)
from backupnimbus.ports.object_store import Readable, Stoppable

log = logging.getLogger(__name__)

PIPE_BYTES = 1024 * 1024
"""What the pipe between the cipher's thread and the reader holds: the memory bound."""
_JOIN_GRACE_S = 2.0
_NO_MATCH = "No matching keys found"
_DAMAGED = "damaged ciphertext"
IDENTITY_VARIABLES = "AGE_IDENTITY_FILE (a path) or AGE_IDENTITY (base64)"


class AgeCipher:
    """Encrypts to `recipients` (public keys) and decrypts with `identities` (secret keys).

    The backup side is given recipients only, so that its configuration reads no backup.
    """

    def __init__(self, *, recipients: Sequence[str] = (), identities: Sequence[str] = ()) -> None:
        problems: list[str] = []
        self._recipients = tuple(recipients)
        self._recipient_keys = _parse(
            recipients,
            x25519.Recipient.from_str,
            problems,
            "AGE_RECIPIENTS key #{n} is not a valid age public key (its checksum is wrong); "
            "copy it again from the output of `age-keygen -y key.txt`",
        )
        self._identity_keys = _parse(
            identities,
            x25519.Identity.from_str,
            problems,
            "age identity #{n} in " + IDENTITY_VARIABLES + " is invalid (its checksum is wrong)",
        )
        if problems:
            raise ConfigInvalidError(problems)

    @property
    def recipients(self) -> tuple[str, ...]:
        return self._recipients

    @contextlib.contextmanager
    def encrypting(self, stream: Readable) -> Iterator[Readable]:
        if not self._recipient_keys:
            raise ConfigInvalidError(["encrypting needs at least one public key in AGE_RECIPIENTS"])
        keys = list(self._recipient_keys)
        pump = _Pump(
            stream,
            lambda source, sink: pyrage.encrypt_io(source, sink, keys),
            failure=_encrypt_failure,
            name="age-encrypt",
        )
        with pump.running():
            yield pump

    @contextlib.contextmanager
    def decrypting(self, stream: Readable, *, label: str) -> Iterator[Readable]:
        if not self._identity_keys:
            raise missing_identity(label, IDENTITY_VARIABLES)
        keys = list(self._identity_keys)
        pump = _Pump(
            stream,
            lambda source, sink: pyrage.decrypt_io(source, sink, keys),
            failure=lambda error: _decrypt_failure(error, label, len(keys)),
            name="age-decrypt",
        )
        with pump.running():
            # The header is read before anything else, so a wrong identity fails here, before
            # the caller starts a restore. Damage is the reader's to meet, where it is.
            try:
                pump.prime()
            except VerificationFailedError as error:
                if error.details.get("reason") != _DAMAGED:
                    raise
            yield pump


def _parse(
    keys: Sequence[str], parse: Callable[[str], Any], problems: list[str], problem: str
) -> list[Any]:
    parsed = []
    for n, key in enumerate(keys, start=1):
        try:
            parsed.append(parse(key))
        except (pyrage.RecipientError, pyrage.IdentityError, ValueError):
            problems.append(problem.format(n=n))
    return parsed


def _encrypt_failure(error: BaseException) -> BackupNimbusError:
    return BackupNimbusError(
        f"Encrypting the archive with age failed: {error}",
        details={"reason": "encryption failed"},
    )


def _decrypt_failure(error: BaseException, label: str, identities: int) -> BackupNimbusError:
    message = str(error)
    if isinstance(error, pyrage.DecryptError) and message == _NO_MATCH:
        return VerificationFailedError(
            f"Cannot decrypt {label}: no age identity in {IDENTITY_VARIABLES} is one of its "
            f"recipients ({identities} tried): it was encrypted to other public keys, or its "
            "header is damaged",
            details={"key": label, "reason": "no matching identity"},
        )
    if isinstance(error, pyrage.DecryptError):
        return VerificationFailedError(
            f"Cannot decrypt {label}: it is not age-encrypted, or its age header is damaged "
            f"({message})",
            details={"key": label, "reason": "not age-encrypted data"},
        )
    # Past the header, age authenticates every 64 KiB chunk and marks the last one: a changed
    # or missing byte fails here, and nothing after it is released.
    return VerificationFailedError(
        f"Cannot decrypt {label}: its encrypted data is damaged or truncated ({message}); "
        "the backup cannot be trusted",
        details={"key": label, "reason": _DAMAGED},
    )


class _Abandoned(Exception):
    """Raised to the cipher's thread when the reader has gone."""


class _Pump:
    """Runs a push-style cipher, which reads its input and writes its output itself, in a
    thread, and hands the output to a reader that pulls with read(n).

    They meet in an OS pipe: its fixed capacity is the memory bound, a full pipe blocks the
    cipher until the reader catches up, and closing the reader's end makes the cipher's next
    write fail, so that either side's failure ends the other.
    """

    def __init__(
        self,
        source: Readable,
        work: Callable[[Any, Any], None],
        *,
        failure: Callable[[BaseException], BackupNimbusError],
        name: str,
    ) -> None:
        self._source = source
        self._work = work
        self._failure = failure
        self._name = name
        self._abandoned = threading.Event()
        self._source_error: BaseException | None = None
        self._error: BaseException | None = None
        self._head = b""
        self._ended = False
        self._read_fd = -1
        self._write_fd = -1
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        self._read_fd, self._write_fd = os.pipe()
        _widen(self._write_fd)
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        try:
            self._thread.start()
        except BaseException:
            os.close(self._write_fd)
            os.close(self._read_fd)
            raise
        try:
            yield
        finally:
            self._stop()

    def prime(self) -> None:
        """Waits for the first output (or the end), raising the cipher's failure if any."""
        self._head = self.read(PIPE_BYTES)

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            return b"".join(iter(lambda: self.read(PIPE_BYTES), b""))
        if self._head:
            chunk, self._head = self._head[:size], self._head[size:]
            return chunk
        if size == 0:
            return b""
        if not self._ended:
            chunk = os.read(self._read_fd, min(size, PIPE_BYTES))
            if chunk:
                return chunk
            self._ended = True
            assert self._thread is not None
            self._thread.join()
        # The pipe's end means the cipher returned; only its success is the stream's end.
        if self._source_error is not None:
            raise self._source_error
        if self._error is not None:
            raise self._failure(self._error) from self._error
        return b""

    def raise_if_stopped(self) -> None:
        if isinstance(self._source, Stoppable):
            self._source.raise_if_stopped()

    # -- the cipher's thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._work(_Input(self), _Output(self._write_fd))
        except BaseException as exc:  # handed to the reader, which raises it
            self._error = exc
        finally:
            os.close(self._write_fd)

    def _pull(self, size: int) -> bytes:
        if self._abandoned.is_set():
            raise _Abandoned
        try:
            return self._source.read(size)
        except BaseException as exc:
            # The cipher reports it only as text; the reader raises the original.
            self._source_error = exc
            raise

    def _stop(self) -> None:
        self._abandoned.set()
        # The cipher's write blocked on a full pipe fails at once (EPIPE) once nobody reads.
        os.close(self._read_fd)
        assert self._thread is not None
        self._thread.join(timeout=_JOIN_GRACE_S)
        if self._thread.is_alive():
            # Blocked reading its source (a stalled dump): the source's owner stops it next,
            # and the thread then ends without reading or writing anything more.
            log.warning("the %s thread is still waiting on its input; leaving it", self._name)


class _Input:
    def __init__(self, pump: _Pump) -> None:
        self._pump = pump

    def read(self, size: int = -1, /) -> bytes:
        return self._pump._pull(size)


class _Output:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        return len(data)

    def flush(self) -> None:
        pass


def _widen(fd: int) -> None:
    """A 1 MiB pipe instead of Linux's 64 KiB: fewer thread switches per byte."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass
