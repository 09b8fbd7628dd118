"""The keep/forget policy against a brute-force oracle and restic's documented examples."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backupnimbus.domain.retention import RetentionPolicy, plan_retention
from backupnimbus.errors import UsageInvalidError
from tests.support.retention_oracle import Reasons, oracle


def _as_reasons(plan_keep: Mapping[str, tuple[object, ...]]) -> Reasons:
    return {key: {(r.rule, r.rank) for r in reasons} for key, reasons in plan_keep.items()}  # type: ignore[attr-defined]


START = datetime(2023, 1, 1, tzinfo=UTC)
TWO_YEARS = 2 * 365 * 86400
# Clusters of backups within a few hours of each other, so that hours and days often hold
# several backups and even identical times occur.
_clusters = st.tuples(
    st.integers(0, TWO_YEARS), st.lists(st.integers(0, 3 * 3600), min_size=1, max_size=5)
)
timelines = st.lists(_clusters, max_size=25).map(
    lambda clusters: {
        f"k{i:03d}": START + timedelta(seconds=at)
        for i, at in enumerate(base + delta for base, deltas in clusters for delta in deltas)
    }
)
_n = st.integers(0, 10)
policies = st.builds(
    RetentionPolicy, last=_n, hourly=_n, daily=_n, weekly=_n, monthly=_n, yearly=_n
).filter(lambda policy: not policy.is_empty())


@given(policy=policies, backups=timelines)
def test_plan_matches_the_brute_force_oracle(
    policy: RetentionPolicy, backups: dict[str, datetime]
) -> None:
    plan = plan_retention(policy=policy, backups=backups)

    expected = oracle(policy.counts(), backups)
    assert _as_reasons(plan.keep) == expected
    assert set(plan.forget) == set(backups) - set(expected)
    newest_first = sorted(backups, key=lambda key: (backups[key], key), reverse=True)
    assert list(plan.keep) == [key for key in newest_first if key in expected]
    assert list(plan.forget) == [key for key in newest_first if key not in expected]


@given(policy=policies, backups=timelines.filter(bool))
def test_newest_backup_is_always_kept_by_every_rule_in_use(
    policy: RetentionPolicy, backups: dict[str, datetime]
) -> None:
    plan = plan_retention(policy=policy, backups=backups)

    newest = max(backups, key=lambda key: (backups[key], key))
    in_use = {rule for rule, n in policy.counts().items() if n}
    assert {(r.rule, r.rank) for r in plan.keep[newest]} == {(rule, 1) for rule in in_use}


@given(backups=timelines)
def test_an_empty_policy_is_refused(backups: dict[str, datetime]) -> None:
    with pytest.raises(UsageInvalidError, match="no retention rule") as caught:
        plan_retention(policy=RetentionPolicy(), backups=backups)
    assert caught.value.exit_code == 2


def test_negative_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="daily"):
        RetentionPolicy(daily=-1)


def _at(day: date, hour: int = 11) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_restic_docs_twelve_sundays_keep_daily_4() -> None:
    sundays = {f"s{i:02d}": _at(date(2019, 9, 1) + timedelta(weeks=i)) for i in range(12)}

    plan = plan_retention(policy=RetentionPolicy(daily=4), backups=sundays)

    assert [str(sundays[k].date()) for k in plan.keep] == [
        "2019-11-17", "2019-11-10", "2019-11-03", "2019-10-27",
    ]  # fmt: skip
    assert len(plan.forget) == 8


def test_restic_docs_daily_backups_with_daily_weekly_monthly_yearly() -> None:
    # One backup a day from 2017-01-01 to Sunday 2019-11-17, as in restic's "100 years" example.
    days = (date(2019, 11, 17) - date(2017, 1, 1)).days + 1
    daily = {f"d{i:04d}": _at(date(2017, 1, 1) + timedelta(days=i)) for i in range(days)}
    policy = RetentionPolicy(daily=7, weekly=5, monthly=12, yearly=75)

    plan = plan_retention(policy=policy, backups=daily)

    kept = {str(daily[key].date()): [str(r) for r in reasons] for key, reasons in plan.keep.items()}
    sevens = [f"2019-11-{d:02d}" for d in range(17, 10, -1)]
    sundays = ["2019-11-10", "2019-11-03", "2019-10-27", "2019-10-20"]
    month_ends = ["2019-10-31", "2019-09-30", "2019-08-31", "2019-07-31", "2019-06-30",
                  "2019-05-31", "2019-04-30", "2019-03-31", "2019-02-28", "2019-01-31",
                  "2018-12-31"]  # fmt: skip
    assert set(kept) == {*sevens, *sundays, *month_ends, "2017-12-31"}
    assert kept["2019-11-17"] == ["daily #1", "weekly #1", "monthly #1", "yearly #1"]
    assert kept["2019-11-11"] == ["daily #7"]
    assert kept["2019-11-10"] == ["weekly #2"]
    assert kept["2019-10-20"] == ["weekly #5"]
    assert kept["2018-12-31"] == ["monthly #12", "yearly #2"]
    assert kept["2017-12-31"] == ["yearly #3"]
    assert len(plan.forget) == days - 23


def test_iso_weeks_cross_the_new_year_but_years_do_not() -> None:
    backups = {
        "sun-w52": _at(date(2024, 12, 29)),  # ISO 2024-W52
        "mon-w01": _at(date(2024, 12, 30)),  # ISO 2025-W01, calendar 2024
        "wed-w01": _at(date(2025, 1, 1)),  # ISO 2025-W01
    }

    weekly = plan_retention(policy=RetentionPolicy(weekly=2), backups=backups)
    yearly = plan_retention(policy=RetentionPolicy(yearly=2), backups=backups)

    assert _as_reasons(weekly.keep) == {"wed-w01": {("weekly", 1)}, "sun-w52": {("weekly", 2)}}
    assert _as_reasons(yearly.keep) == {"wed-w01": {("yearly", 1)}, "mon-w01": {("yearly", 2)}}


def test_periods_are_utc_whatever_the_offset_of_the_given_times() -> None:
    plus5 = timezone(timedelta(hours=5))
    backups = {
        # 2024-03-02 01:00 at +05:00 is still 2024-03-01 in UTC: same day as "evening".
        "late": datetime(2024, 3, 2, 1, 0, tzinfo=plus5),
        "evening": datetime(2024, 3, 1, 18, 0, tzinfo=UTC),
        "morning": datetime(2024, 3, 1, 6, 0, tzinfo=UTC),
    }

    plan = plan_retention(policy=RetentionPolicy(daily=5, hourly=5), backups=backups)

    assert _as_reasons(plan.keep) == {
        "late": {("daily", 1), ("hourly", 1)},
        "evening": {("hourly", 2)},
        "morning": {("hourly", 3)},
    }
    assert plan.forget == ()


def test_last_counts_backups_and_breaks_ties_by_key() -> None:
    same = datetime(2024, 5, 5, 5, 5, 5, tzinfo=UTC)
    backups = {"a": same, "b": same, "c": same - timedelta(seconds=1)}

    plan = plan_retention(policy=RetentionPolicy(last=2), backups=backups)

    assert _as_reasons(plan.keep) == {"b": {("last", 1)}, "a": {("last", 2)}}
    assert plan.forget == ("c",)
