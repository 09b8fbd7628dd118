"""A brute-force keep/forget oracle, written independently of the production retention walk:
shared by the retention and prune tests."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

Reasons = dict[str, set[tuple[str, int]]]

_PERIOD_LABELS: dict[str, Callable[[str, datetime], object]] = {
    "last": lambda key, at: (at, key),
    "hourly": lambda key, at: at.strftime("%Y-%m-%d %H"),
    "daily": lambda key, at: at.strftime("%Y-%m-%d"),
    "weekly": lambda key, at: "{:04d}-W{:02d}".format(*at.isocalendar()[:2]),
    "monthly": lambda key, at: at.strftime("%Y-%m"),
    "yearly": lambda key, at: at.strftime("%Y"),
}


def oracle(counts: Mapping[str, int], backups: Mapping[str, datetime]) -> Reasons:
    """For each rule: group by period label, take the N latest labels, keep the newest of each.

    Written independently of the production single-pass walk: it sorts labels, not backups.
    """
    kept: Reasons = defaultdict(set)
    for rule, n in counts.items():
        groups: dict[object, list[tuple[datetime, str]]] = defaultdict(list)
        for key, at in backups.items():
            utc = at.astimezone(UTC)
            groups[_PERIOD_LABELS[rule](key, utc)].append((utc, key))
        for rank, label in enumerate(sorted(groups, reverse=True)[:n], start=1):  # type: ignore[type-var]
            kept[max(groups[label])[1]].add((rule, rank))
    return dict(kept)
