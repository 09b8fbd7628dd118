"""Lambda events as AWS sends them."""

from __future__ import annotations

# The sample EventBridge publishes for a schedule rule.
SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2025-04-07T10:15:30Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/backupnimbus-daily"],
    "detail": {},
}
