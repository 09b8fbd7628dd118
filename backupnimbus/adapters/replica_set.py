"""Asks the source whether it is a replica-set member, the condition for `mongodump --oplog`.

A standalone server has no oplog and a mongos refuses `--oplog`; a member names its set in
`hello.setName`. The URI reaches pymongo only in memory: never argv, never a log line.
"""

from __future__ import annotations

import re
from typing import Any

from backupnimbus.errors import DumpFailedError
from backupnimbus.redaction import Redactor

_AUTH_FAILED = 18


class ReplicaSetProbeError(DumpFailedError):
    """The source could not be asked. `transient`: it could not be reached (try again);
    otherwise it refused (wrong credentials), which another try would not change."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def replica_set_name(uri: str, *, timeout_s: float, redactor: Redactor) -> str | None:
    """Returns: the replica set the source belongs to; None for a standalone or a mongos.

    Raises: ReplicaSetProbeError when the source cannot be reached or refuses the login.
    """
    from pymongo import MongoClient
    from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

    timeout_ms = max(1000, int(timeout_s * 1000))
    options: dict[str, Any] = {}
    if _single_direct_host(uri):
        # As mongodump does with one host: ask that server, not the primary it would discover.
        options["directConnection"] = True
    client: MongoClient[dict[str, object]] | None = None
    try:
        client = MongoClient(
            uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms, appname="backupnimbus-probe", **options,
        )  # fmt: skip
        hello = client.admin.command("hello")
    except OperationFailure as exc:
        transient = exc.code != _AUTH_FAILED
        what = "could not log in; check the user and password in MONGO_URI"
        raise ReplicaSetProbeError(
            f"Asking the source whether it is a replica set (MONGODUMP_OPLOG=auto) failed: "
            f"{what if not transient else redactor.redact(str(exc))}",
            transient=transient,
        ) from None
    except (ConnectionFailure, PyMongoError) as exc:
        raise ReplicaSetProbeError(
            "Asking the source whether it is a replica set (MONGODUMP_OPLOG=auto) failed: "
            + redactor.redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__),
            transient=True,
        ) from None
    finally:
        if client is not None:
            client.close()
    name = hello.get("setName")
    return name if isinstance(name, str) and name else None


def _single_direct_host(uri: str) -> bool:
    if uri.startswith("mongodb+srv://"):
        return False
    authority = uri.split("://", 1)[-1].partition("/")[0].partition("?")[0]
    if "," in authority.rpartition("@")[2]:
        return False
    query = uri.partition("?")[2].lower()
    return not re.search(r"(^|[&;])(replicaset|directconnection)=", query)
