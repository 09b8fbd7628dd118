"""Read-only checks of each configured service, for `backupnimbus check`."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backupnimbus.adapters.tool_config import kill_tool, private_config, start_tool
from backupnimbus.errors import StorageFailedError
from backupnimbus.ports.dump_runner import DumpRunner
from backupnimbus.ports.object_store import ObjectStore
from backupnimbus.redaction import Redactor

if TYPE_CHECKING:
    from backupnimbus.domain.object_lock import Locking

# A collection nobody has: mongodump connects, finds nothing, and writes nothing of value.
_NO_SUCH_COLLECTION = "backupnimbus-connection-check"


class S3BucketCheck:
    name = "storage"

    def __init__(self, *, client: Any, bucket: str, prefix: str = "") -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix

    def run(self) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            # Listing the prefix, not HeadBucket: the least-privilege role may list only its
            # prefix, and HeadBucket (a list without one) is refused to it.
            self._client.list_objects_v2(Bucket=self._bucket, Prefix=self._prefix, MaxKeys=1)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "unknown")
            raise StorageFailedError(
                f"s3://{self._bucket}: listing {self._prefix or 'the bucket'} failed with {code} "
                "(missing bucket, wrong region, or no s3:ListBucket permission)"
            ) from exc
        except BotoCoreError as exc:
            raise StorageFailedError(f"s3://{self._bucket}: {type(exc).__name__}") from exc
        return f"s3://{self._bucket} is reachable"


class ObjectLockCheck:
    """With S3_OBJECT_LOCK_MODE set: the store can lock, or a backup would fail before upload."""

    name = "object lock"

    def __init__(self, *, locking: Callable[[], Locking | None]) -> None:
        self._locking = locking

    def run(self) -> str:
        locking = self._locking()
        assert locking is not None, "only checked with a lock mode"
        locking.require_support()
        policy = locking.policy
        extended = (
            f", extended by prune up to {policy.max_days} days"
            if policy.max_days > policy.days
            else ""
        )
        return f"backups are locked ({policy.mode.lower()}) for {policy.days} days{extended}"


class StoreListingCheck:
    """For stores other than S3: listing the prefix proves read access without writing."""

    name = "storage"

    def __init__(self, *, store: ObjectStore, prefix: str, description: str) -> None:
        self._store = store
        self._prefix = prefix
        self._description = description

    def run(self) -> str:
        count = sum(1 for _ in self._store.list_objects(prefix=self._prefix))
        return f"{self._description}: {count} object(s) under '{self._prefix}'"


class LocalDirectoryCheck:
    name = "storage"

    def __init__(self, *, root: Path) -> None:
        self._root = root

    def run(self) -> str:
        existing = self._root
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise StorageFailedError(f"{self._root}: {existing} is not a directory")
        import os

        if not os.access(existing, os.W_OK | os.X_OK):
            raise StorageFailedError(f"{self._root}: {existing} is not writable")
        state = "exists" if self._root.is_dir() else f"will be created under {existing}"
        return f"local directory {self._root} {state}"


class SesSenderCheck:
    name = "notifications"

    def __init__(self, *, client: Any, sender: str) -> None:
        self._client = client
        self._sender = sender

    def run(self) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        from backupnimbus.errors import NotificationFailedError

        domain = self._sender.rpartition("@")[2]
        try:
            answer = self._client.get_identity_verification_attributes(
                Identities=[self._sender, domain]
            )["VerificationAttributes"]
        except (ClientError, BotoCoreError) as exc:
            raise NotificationFailedError(f"SES: {type(exc).__name__}") from exc
        for identity in (self._sender, domain):
            if answer.get(identity, {}).get("VerificationStatus") == "Success":
                return f"SES sender {self._sender} is verified (as {identity})"
        raise NotificationFailedError(
            f"SES sender {self._sender} is not verified; verify the address or its domain in SES"
        )


class MongodumpVersionCheck:
    name = "mongodump"

    def __init__(self, *, dumps: DumpRunner) -> None:
        self._dumps = dumps

    def run(self) -> str:
        return f"mongodump {self._dumps.describe_tool()}"


class DumpBackendCheck:
    """A plugin's database source (DUMP_BACKEND): its runner can be built from its settings,
    and names its tool."""

    name = "dump backend"

    def __init__(self, *, backend: str, dumps: Callable[[], DumpRunner]) -> None:
        self._backend = backend
        self._dumps = dumps

    def run(self) -> str:
        return f"{self._backend}: {self._dumps().describe_tool()}"


class MongoConnectionCheck:
    name = "mongodb"

    def __init__(
        self, *, executable: str, uri: str, redactor: Redactor, timeout_s: float, hosts: str
    ) -> None:
        self._executable = executable
        self._uri = uri
        self._redactor = redactor.with_secrets([uri])
        self._timeout_s = timeout_s
        self._hosts = hosts

    def run(self) -> str:
        from backupnimbus.errors import DumpFailedError

        with private_config(self._uri) as config:
            argv = [self._executable, config.argument, "--db=admin",
                    f"--collection={_NO_SUCH_COLLECTION}", "--archive"]  # fmt: skip
            try:
                process = start_tool(
                    argv, config, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE, text=True,
                )  # fmt: skip
            except OSError as exc:
                raise DumpFailedError(f"cannot run {self._executable}: {exc.strerror}") from exc
            try:
                _, stderr = process.communicate(timeout=self._timeout_s)
            except subprocess.TimeoutExpired:
                # mongodump waits out SIGTERM while it is still trying to connect.
                kill_tool(process)
                process.communicate()
                raise DumpFailedError(
                    f"could not connect to {self._hosts} within {self._timeout_s:.0f} s"
                ) from None
        if process.returncode != 0:
            last = self._redactor.redact(stderr.strip().splitlines()[-1] if stderr.strip() else "")
            raise DumpFailedError(f"{self._hosts}: mongodump failed: {last}")
        return f"connected to {self._hosts}"
