"""ArchiveCipher with age (pyrage): X25519 recipients, streamed through a bounded pipe."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyrage
from pyrage import x25519

from backupnimbus.adapters.stream_pump import StreamPump
from backupnimbus.errors import (
    BackupNimbusError,
    ConfigInvalidError,
    VerificationFailedError,
    missing_identity,
)
from backupnimbus.ports.object_store import Readable

log = logging.getLogger(__name__)

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
        pump = StreamPump(
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
        pump = StreamPump(
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
