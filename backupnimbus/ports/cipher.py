from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from backupnimbus.ports.object_store import Readable


class ArchiveCipher(Protocol):
    """Client-side encryption of archives, as streams: the plaintext never has to fit in memory.

    The backup side needs only public keys (`recipients`); reading a backup back needs a secret
    identity, which the backup side never holds.
    """

    @property
    def recipients(self) -> tuple[str, ...]:
        """The public keys new archives are encrypted to; empty: archives are stored as they
        are."""
        ...

    def encrypting(self, stream: Readable) -> AbstractContextManager[Readable]:
        """Encrypts `stream` to every recipient while it is read.

        Args:
            stream: the plaintext, read until b"".

        Returns: a context manager yielding the ciphertext stream. An exception that `stream`
        raises is raised unchanged by the ciphertext's `read`. Leaving the context early stops
        the encryption.
        """
        ...

    def decrypting(self, stream: Readable, *, label: str) -> AbstractContextManager[Readable]:
        """Decrypts `stream` while it is read, releasing only authenticated plaintext.

        Args:
            stream: the ciphertext, read until b"".
            label: what is decrypted (a key or a path), for error messages.

        Returns: a context manager yielding the plaintext stream. Entering it raises
        `ConfigInvalidError` when no identity is configured and `VerificationFailedError` when
        none of them can open `stream`. The plaintext's `read` raises `VerificationFailedError`
        when the ciphertext is damaged or truncated, and an exception from `stream` unchanged.
        Leaving the context early stops the decryption.
        """
        ...
