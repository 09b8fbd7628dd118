"""Object Lock policy: how long each backup is locked, and how far prune may extend a lock.

A backup is locked for `days` from the moment its archive is stored. Prune then keeps the lock
of every backup its plan keeps ahead of the clock: once less than half of `days` is left, it
extends the lock to `days` from now, but never past `max_days` after the backup finished, so
no backup can be locked (and billed) for longer than the operator allowed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from backupnimbus.ports.object_lock import LOCK_MODES, Lock, ObjectLocks


def _at_least_days(instance: LockPolicy, attribute: attrs.Attribute[int], value: int) -> None:
    if value < instance.days:
        raise ValueError(f"{attribute.name} ({value}) is below days ({instance.days})")


@attrs.frozen
class LockPolicy:
    mode: str = attrs.field(validator=attrs.validators.in_(LOCK_MODES))
    """GOVERNANCE or COMPLIANCE."""
    days: int = attrs.field(validator=attrs.validators.ge(1))
    """Every backup is locked at least this long after it was stored."""
    max_days: int = attrs.field(validator=_at_least_days)
    """No lock is extended past this many days after the backup finished."""

    def first_lock(self, *, now: datetime) -> Lock:
        return Lock(mode=self.mode, retain_until=_whole_second(now + timedelta(days=self.days)))

    def extension(self, *, current: Lock | None, made: datetime, now: datetime) -> Lock | None:
        """The lock a kept backup needs now, or None when its lock is still long enough (or
        may not be extended any further)."""
        if current is not None and current.retain_until - now >= timedelta(days=self.days) / 2:
            return None
        wanted = _whole_second(
            min(now + timedelta(days=self.days), made + timedelta(days=self.max_days))
        )
        if current is not None and wanted <= current.retain_until:
            return None
        if wanted <= now:
            return None
        # An existing lock keeps its mode: changing it would take a governance bypass.
        return Lock(mode=current.mode if current else self.mode, retain_until=wanted)


@attrs.frozen
class Locking:
    """The lock policy with the store's locks: what the use cases that lock are given."""

    policy: LockPolicy
    locks: ObjectLocks

    def require_support(self) -> None:
        """Raises ConfigInvalidError when the store cannot lock, before anything is written."""
        self.locks.require_object_lock()


def _whole_second(at: datetime) -> datetime:
    # S3 keeps retention dates to the second; rounding up keeps "at least `days`" true.
    if at.microsecond:
        return at.replace(microsecond=0) + timedelta(seconds=1)
    return at


def is_locked(lock: Lock | None, *, now: datetime) -> bool:
    return lock is not None and lock.retain_until > now


def lock_text(lock: Lock) -> str:
    return f"{lock.mode.lower()} until {lock.retain_until.isoformat().replace('+00:00', 'Z')}"
