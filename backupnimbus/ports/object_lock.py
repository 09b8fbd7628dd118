"""Object Lock: retention dates after which, and not before, a stored object may be deleted.

A separate port from ObjectStore: only some stores can lock (S3 with Object Lock enabled on the
bucket), and the use cases that need locks ask for this port explicitly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

GOVERNANCE = "GOVERNANCE"
"""Users with a special permission (s3:BypassGovernanceRetention) can still delete or shorten."""
COMPLIANCE = "COMPLIANCE"
"""Nobody, not even the account's root user, can delete the version or shorten the date."""
LOCK_MODES = (GOVERNANCE, COMPLIANCE)


@attrs.frozen
class Lock:
    mode: str
    """GOVERNANCE or COMPLIANCE."""
    retain_until: datetime
    """The stored version cannot be deleted before this time (UTC)."""


@runtime_checkable
class ObjectLocks(Protocol):
    """Locks on the objects of an ObjectStore; the same keys, the current version of each."""

    def require_object_lock(self) -> None:
        """Raises ConfigInvalidError, saying how to fix it, when the store cannot lock objects
        (e.g. a bucket created without Object Lock)."""
        ...

    def put_locked_bytes(self, *, key: str, data: bytes, lock: Lock) -> None:
        """Stores a small object locked from the first moment; raises `ObjectExistsError` when
        the key is taken."""
        ...

    def lock(self, *, key: str, lock: Lock) -> None:
        """Sets or extends the object's lock; raises StorageFailedError when it cannot (a
        compliance lock is never shortened, and the store refuses to)."""
        ...

    def lock_of(self, *, key: str) -> Lock | None:
        """The object's lock, or None when it has none; raises BackupNotFoundError if absent."""
        ...
