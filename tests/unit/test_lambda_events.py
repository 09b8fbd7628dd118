"""A Lambda event says what one invocation does; a field its action would not use is a mistake
in the rule that sent it, reported instead of silently ignored."""

from __future__ import annotations

from typing import Any

import pytest

from backupnimbus.entrypoints.lambda_events import parse_event
from backupnimbus.errors import UsageInvalidError


@pytest.mark.parametrize(
    ("event", "unused"),
    [
        ({"action": "prune", "compression": "zstd"}, ["compression"]),
        ({"action": "prune", "key": "backups/x.archive"}, ["key"]),
        ({"action": "verify", "timestamp": "2025-04-07T10:15:30Z"}, ["timestamp"]),
        ({"action": "verify", "random_within_days": 3}, ["random_within_days"]),
        ({"action": "backup", "key": "backups/x.archive"}, ["key"]),
        ({"random_within_days": 2}, ["random_within_days"]),  # backup, the default action
        ({"action": "drill", "compress": False, "timestamp": "2025-04-07T10:15:30Z"},
         ["compress", "timestamp"]),
    ],
)  # fmt: skip
def test_a_field_the_action_does_not_use_is_refused_naming_it(
    event: dict[str, Any], unused: list[str]
) -> None:
    with pytest.raises(UsageInvalidError) as raised:
        parse_event(event)

    problems = " | ".join(raised.value.to_document()["error"]["details"]["problems"])
    for field in unused:
        assert f"{field!r}" in problems, problems
    action = event.get("action", "backup")
    assert f"not used by the {action} action" in problems, problems
    assert raised.value.exit_code == 2


@pytest.mark.parametrize(
    "event",
    [
        {"action": "backup", "name": "nightly", "compression": "zstd",
         "timestamp": "2025-04-07T10:15:30Z"},
        {"action": "verify", "name": "nightly", "key": "backups/x.archive"},
        {"action": "prune", "name": "nightly"},
        {"action": "drill", "name": "nightly", "random_within_days": 3},
        {"action": "drill", "key": "backups/x.archive"},
        {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
         "resources": ["arn:aws:events:eu-west-1:1:rule/nightly"], "detail": {}},
    ],
)  # fmt: skip
def test_the_fields_each_action_uses_are_accepted(event: dict[str, Any]) -> None:
    invocation = parse_event(event)

    assert invocation.action == event.get("action", "backup")
