"""The cipher of a setup without age keys, and the use cases' default."""

from __future__ import annotations

from contextlib import AbstractContextManager

from backupnimbus.errors import ConfigInvalidError, missing_identity
from backupnimbus.ports.object_store import Readable


class NoEncryption:
    """Archives are stored as they are; an encrypted one cannot be read back."""

    recipients: tuple[str, ...] = ()

    def encrypting(self, stream: Readable) -> AbstractContextManager[Readable]:
        raise ConfigInvalidError(["encrypting needs at least one public key in AGE_RECIPIENTS"])

    def decrypting(self, stream: Readable, *, label: str) -> AbstractContextManager[Readable]:
        raise missing_identity(label, "AGE_IDENTITY_FILE (a path) or AGE_IDENTITY (base64)")
