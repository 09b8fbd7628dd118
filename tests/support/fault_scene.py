"""What the fault tests share: the run's timestamp, retries without waits, mail settings, and
what the bucket holds."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import boto3
import tenacity

from backupnimbus.adapters.retrying import RetryPolicy
from tests.conftest import REGION, b64
from tests.support.ses import SENDER

NO_WAIT = RetryPolicy(wait=tenacity.wait_none())
AT = "2025-04-07T10:15:30Z"
RECIPIENT = "oncall@example.com"


def with_mail(env: Mapping[str, str], ses_endpoint: str, name: str) -> dict[str, str]:
    ses = boto3.client(
        "ses",
        endpoint_url=ses_endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ses.verify_email_identity(EmailAddress=SENDER)
    return {
        **env,
        "NOTIFICATIONS_ENABLED": "true",
        "NOTIFICATION_SENDER_EMAIL": b64(SENDER),
        "NOTIFICATION_RECIPIENTS": b64(RECIPIENT),
        "BACKUP_NAME": name,
    }


def contents(s3: Any, bucket: str) -> dict[str, tuple[str, int]]:
    """Every object: key -> (sha256, size)."""
    found = {}
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        data = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        found[item["Key"]] = (hashlib.sha256(data).hexdigest(), len(data))
    return found


def open_uploads(s3: Any, bucket: str) -> int:
    return len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def lost_since(before: Mapping[str, tuple[str, int]], after: Mapping[str, tuple[str, int]]) -> int:
    """Bytes of the objects in `before` that are gone or changed in `after`."""
    return sum(size for key, (sha, size) in before.items() if after.get(key) != (sha, size))
