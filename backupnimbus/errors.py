"""The one error hierarchy, shared by every layer.

It lives at the package root, below the domain, the ports and the adapters alike, because the
errors a port may raise are part of its contract: adapters raise them, use cases handle them and
entrypoints render them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar


class BackupNimbusError(Exception):
    """Base of every failure BackupNimbus reports on purpose."""

    code: ClassVar[str] = "BACKUP_ERROR"
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_document(self, *, at: datetime | None = None) -> dict[str, Any]:
        """Render the JSON error document; `details` must never hold a secret."""
        when = (at or datetime.now(UTC)).astimezone(UTC)
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "details": self.details,
            }
        }


class ConfigInvalidError(BackupNimbusError):
    """The configuration cannot be used; `problems` lists every reason at once."""

    code = "CONFIG_ERROR"
    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        listing = "; ".join(problems)
        super().__init__(f"Invalid configuration: {listing}", details={"problems": problems})
        self.problems = problems


class UsageInvalidError(ConfigInvalidError):
    """The command line or the event asked for something that cannot be done."""


class DumpFailedError(BackupNimbusError):
    code = "DUMP_ERROR"


class DumpInvalidError(DumpFailedError):
    """The dump tool exited 0, but what it wrote is not one whole, intact archive."""

    code = "DUMP_INVALID"


class EmptyBackupError(DumpFailedError):
    """The dump succeeded but holds no collection; stored, it would pass for a good backup."""

    code = "EMPTY_BACKUP"


class PartialBackupError(BackupNimbusError):
    """The backup was stored, whole, but the dump tool reported leaving something out: it is
    kept and reported, and never counted as a good backup."""

    code = "PARTIAL_BACKUP"
    exit_code = 3


class StorageFailedError(BackupNimbusError):
    code = "STORAGE_ERROR"


class ObjectExistsError(StorageFailedError):
    """A backup already holds the key; backups are never overwritten."""

    code = "ALREADY_EXISTS"


class BackupNotFoundError(BackupNimbusError):
    code = "NOT_FOUND"


class NotificationFailedError(BackupNimbusError):
    code = "NOTIFICATION_ERROR"


class VerificationFailedError(BackupNimbusError):
    code = "VERIFY_ERROR"


class RestoreFailedError(BackupNimbusError):
    """The restore tool failed, or the target refused some documents."""

    code = "RESTORE_ERROR"


class DrillFailedError(BackupNimbusError):
    """A restore drill restored the backup, but what it found in the target differs from the
    archive (counts, index definitions or sampled documents)."""

    code = "DRILL_FAILED"


class DeadlineExceededError(BackupNimbusError):
    code = "TIMEOUT"


class SecretUnavailableError(BackupNimbusError):
    """A secret reference could not be read for a reason that may pass (throttling, an outage,
    the network): running again may succeed, unlike a missing parameter (CONFIG_ERROR)."""

    code = "SECRET_ERROR"


def missing_identity(label: str, variables: str) -> VerificationFailedError:
    """An encrypted archive with no identity to read it: the operation fails (exit 1), as a
    wrong identity does, before anything is written anywhere."""
    return VerificationFailedError(
        f"{label} is age-encrypted and no identity to decrypt it is configured: set {variables}",
        details={"reason": "no identity configured"},
    )
