"""The keep/forget policy, with restic `forget` semantics, independent of any store.

Each rule keeps the newest backup of each of its last N periods, counting only periods that hold
a backup. Periods are calendar periods in UTC (weeks are ISO weeks, Monday to Sunday). A backup
kept by any rule is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from datetime import UTC, datetime

import attrs

from backupnimbus.errors import UsageInvalidError

RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")

_PERIODS: dict[str, Callable[[datetime], Hashable]] = {
    "hourly": lambda at: (at.year, at.month, at.day, at.hour),
    "daily": lambda at: at.date(),
    "weekly": lambda at: tuple(at.isocalendar())[:2],
    "monthly": lambda at: (at.year, at.month),
    "yearly": lambda at: at.year,
}

_COUNT = [attrs.validators.instance_of(int), attrs.validators.ge(0)]


@attrs.frozen
class RetentionPolicy:
    """How many periods each rule keeps; 0 turns a rule off."""

    last: int = attrs.field(default=0, validator=_COUNT)
    """Keep the N newest backups."""
    hourly: int = attrs.field(default=0, validator=_COUNT)
    """Keep the newest backup of each of the last N hours that have one."""
    daily: int = attrs.field(default=0, validator=_COUNT)
    """Keep the newest backup of each of the last N days that have one."""
    weekly: int = attrs.field(default=0, validator=_COUNT)
    """Keep the newest backup of each of the last N ISO weeks that have one."""
    monthly: int = attrs.field(default=0, validator=_COUNT)
    """Keep the newest backup of each of the last N months that have one."""
    yearly: int = attrs.field(default=0, validator=_COUNT)
    """Keep the newest backup of each of the last N years that have one."""

    def counts(self) -> dict[str, int]:
        return {rule: getattr(self, rule) for rule in RULES}

    def is_empty(self) -> bool:
        return not any(self.counts().values())


@attrs.frozen
class KeepReason:
    rule: str
    """One of RULES."""
    rank: int
    """1 for the rule's newest period, 2 for the one before, and so on."""

    def __str__(self) -> str:
        return f"{self.rule} #{self.rank}"


@attrs.frozen
class RetentionPlan:
    keep: Mapping[str, tuple[KeepReason, ...]]
    """The kept keys, newest first, each with every rule that kept it."""
    forget: tuple[str, ...]
    """The keys no rule keeps, newest first."""


def require_rule(policy: RetentionPolicy) -> None:
    """Raises UsageInvalidError for an empty policy, which would otherwise forget everything."""
    if policy.is_empty():
        raise UsageInvalidError(
            [
                "no retention rule given: every keep count is 0, which would delete every "
                "backup; set at least one, e.g. --keep-daily 7 (or RETENTION_KEEP_DAILY=7)"
            ]
        )


def plan_retention(*, policy: RetentionPolicy, backups: Mapping[str, datetime]) -> RetentionPlan:
    """Decides which backups the policy keeps.

    Args:
        policy: at least one rule above 0; an empty policy raises UsageInvalidError.
        backups: key -> timezone-aware time of each backup of one set. Equal times are ordered
            by key, so the result never depends on the mapping's order.

    Returns:
        The plan. Every rule keeps the newest backup, so a non-empty set never loses it.
    """
    require_rule(policy)
    utc = {key: at.astimezone(UTC) for key, at in backups.items()}
    newest_first = sorted(utc, key=lambda key: (utc[key], key), reverse=True)
    reasons: dict[str, list[KeepReason]] = {key: [] for key in newest_first}
    for rule in RULES:
        limit = getattr(policy, rule)
        rank = 0
        previous: Hashable = None
        # Newest first, a rule's period can only change to an older one, so each change marks
        # the newest backup of the next period.
        for key in newest_first:
            if rank == limit:
                break
            period = _PERIODS[rule](utc[key]) if rule != "last" else key
            if period != previous:
                rank += 1
                previous = period
                reasons[key].append(KeepReason(rule=rule, rank=rank))
    return RetentionPlan(
        keep={key: tuple(found) for key, found in reasons.items() if found},
        forget=tuple(key for key, found in reasons.items() if not found),
    )
