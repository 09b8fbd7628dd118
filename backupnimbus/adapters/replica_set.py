"""Asks the source whether it is a replica-set member, the condition for `mongodump --oplog`.

A standalone server has no oplog and a mongos refuses `--oplog`; a member names its set in
`hello.setName`. The URI reaches pymongo only in memory: never argv, never a log line.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

from backupnimbus.adapters.tool_config import tool_environment
from backupnimbus.errors import DumpFailedError
from backupnimbus.redaction import Redactor

_AUTH_FAILED = 18


class ReplicaSetProbeError(DumpFailedError):
    """The source could not be asked. `transient`: it could not be reached (try again);
    otherwise it refused (wrong credentials), which another try would not change."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


# Run in a child process of its own: pymongo and its client's threads cost the backup process
# some 20 MB for one `hello`, which the 120 MB budget cannot spare. The URI comes on stdin,
# never argv; the answer goes back as one JSON line.
_PROBE = """
import json, sys
from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError
request = json.loads(sys.stdin.read())
try:
    client = MongoClient(request["uri"], **request["options"])
    try:
        hello = client.admin.command("hello")
    finally:
        client.close()
except OperationFailure as exc:
    print(json.dumps({"error": str(exc), "code": exc.code}))
except PyMongoError as exc:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    print(json.dumps({"error": text, "code": None}))
else:
    name = hello.get("setName")
    print(json.dumps({"set_name": name if isinstance(name, str) and name else None}))
"""


def replica_set_name(uri: str, *, timeout_s: float, redactor: Redactor) -> str | None:
    """Returns: the replica set the source belongs to; None for a standalone or a mongos.

    Raises: ReplicaSetProbeError when the source cannot be reached or refuses the login.
    """
    timeout_ms = max(1000, int(timeout_s * 1000))
    options: dict[str, Any] = {
        "serverSelectionTimeoutMS": timeout_ms, "connectTimeoutMS": timeout_ms,
        "socketTimeoutMS": timeout_ms, "appname": "backupnimbus-probe",
    }  # fmt: skip
    if _single_direct_host(uri):
        # As mongodump does with one host: ask that server, not the primary it would discover.
        options["directConnection"] = True
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            input=json.dumps({"uri": uri, "options": options}),
            capture_output=True, text=True, timeout=timeout_s + 5,
            env=tool_environment(), check=False,
        )  # fmt: skip
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        raise ReplicaSetProbeError(
            "Asking the source whether it is a replica set (MONGODUMP_OPLOG=auto) failed: "
            f"the probe did not answer ({type(exc).__name__})",
            transient=True,
        ) from None
    if "error" in answer:
        transient = answer.get("code") != _AUTH_FAILED
        what = "could not log in; check the user and password in MONGO_URI"
        raise ReplicaSetProbeError(
            "Asking the source whether it is a replica set (MONGODUMP_OPLOG=auto) failed: "
            + (redactor.redact(str(answer["error"])) if transient else what),
            transient=transient,
        )
    name = answer.get("set_name")
    return name if isinstance(name, str) and name else None


def _single_direct_host(uri: str) -> bool:
    if uri.startswith("mongodb+srv://"):
        return False
    authority = uri.split("://", 1)[-1].partition("/")[0].partition("?")[0]
    if "," in authority.rpartition("@")[2]:
        return False
    query = uri.partition("?")[2].lower()
    return not re.search(r"(^|[&;])(replicaset|directconnection)=", query)
